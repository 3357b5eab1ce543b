"""recfusion: a TFX pipeline that trains three ranking models, fuses them and pushes the result."""
import os

# tf_keras, not Keras 3 (docs/architecture.md §10): must be set before anything imports TensorFlow, and every
# module that imports TensorFlow lives under this package, so setting it here covers them all.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
# C++ start-up chatter (CUDA plugin registration on CPU machines) is not actionable.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

__version__ = '0.1.0'

# Custom artifact types by the names they carry in a compiled Kubeflow spec ('recfusion.X'):
# the TFX entrypoint imports them as `recfusion.X`. Resolved lazily, so that importing the
# package stays free of TFX.
_ARTIFACT_TYPES = ('FusionReport', 'HTMLReport', 'InputsCheck')


def __getattr__(name):
  if name in _ARTIFACT_TYPES:
    from recfusion import artifact_types
    return getattr(artifact_types, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
