# The pipeline image (DESIGN §8): TFX 1.16 with this project baked in. Every task of the
# compiled Kubeflow pipeline runs in it, so every executor class, run_fn, preprocessing_fn and
# the custom TFMA metric are importable here; nothing is uploaded as a module_file.
#   docker build -t REGISTRY/recfusion:TAG . && docker push REGISTRY/recfusion:TAG
FROM gcr.io/tfx-oss-public/tfx:1.16.0

WORKDIR /opt/recfusion
# The same lock as local runs, so the cluster trains with the exact stack that was tested.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache -r requirements.lock

COPY setup.py pyproject.toml README.md ./
COPY recfusion recfusion
COPY pipeline pipeline
COPY components components
COPY schemas schemas
# Editable, so schemas/schema.pbtxt stays at /opt/recfusion/schemas (the compiled spec says so).
RUN uv pip install --system --no-cache --no-deps -e .

ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2
