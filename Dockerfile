# The pipeline image (docs/architecture.md §8): TFX 1.16 with this project baked in. Every task of the
# compiled Kubeflow pipeline runs in it, so every executor class, run_fn, preprocessing_fn and
# the custom TFMA metric are importable here; nothing is uploaded as a module_file.
#   docker build -t REGISTRY/recfusion:TAG . && docker push REGISTRY/recfusion:TAG
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# The runtime lock only (requirements.lock; the dev tools live in requirements-dev.lock): the
# same versions as local runs, so the cluster trains with the exact stack that was tested, and
# every file checked against the lock's sha256 (--require-hashes). Byte-compiled at build
# (--compile-bytecode): tasks run as a user that cannot write the image, so otherwise every
# task compiles TensorFlow, TFX and Beam as it imports them (about 10 s of each task here).
COPY requirements.lock /tmp/requirements.lock
RUN python -m pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache --compile-bytecode --require-hashes -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock

# A regular (non-editable) install: recfusion, with pipeline/, components/ and schemas/ mapped
# into it by setup.py, lands in site-packages with its package data (defaults.yaml, the schema,
# the report templates). The sources are built from a scratch folder and removed: nothing at run
# time reads the checkout, and a source tree in the working directory would shadow the install
# (`python -m` puts the working directory first on sys.path).
COPY setup.py pyproject.toml /tmp/recfusion-src/
COPY recfusion /tmp/recfusion-src/recfusion
COPY pipeline /tmp/recfusion-src/pipeline
COPY components /tmp/recfusion-src/components
COPY schemas /tmp/recfusion-src/schemas
RUN uv pip install --system --no-cache --compile-bytecode --no-deps /tmp/recfusion-src \
 && rm -rf /tmp/recfusion-src

# The compiled spec names the curated schema by a fixed path (kubeflow_runner.IMAGE_SCHEMA_FILE):
# resolve where the install put it, with importlib.resources as the local runner does, and link
# it there. The build fails here if the package lacks its schema.
WORKDIR /opt/recfusion
RUN schema="$(python -c 'import importlib.resources as r; print(r.files("recfusion.schemas").joinpath("schema.pbtxt"))')" \
 && test -f "$schema" \
 && ln -s "$schema" /opt/recfusion/schema.pbtxt \
 && python -c 'import recfusion.pipeline.kfp_executor, recfusion.components'

ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# Tasks run as an unprivileged user that can write nothing of the image; the kubernetes/
# manifests run the same uid with runAsNonRoot (tests/test_image.py holds them together).
RUN id -u 1000 >/dev/null 2>&1 || useradd --uid 1000 --create-home --shell /usr/sbin/nologin recfusion
USER 1000
ENV HOME=/tmp
