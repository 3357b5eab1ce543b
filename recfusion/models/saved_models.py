"""Loading recfusion's SavedModels (the custom ops a member may hold are registered first), and
what a SavedModel applying the Transform graph holds of it.

The gbt ranker's SavedModel (and so every fused model holding it) calls TensorFlow Decision
Forests' inference ops. TF Serving (>= 2.11) has them built in; a Python process has them only
once `tensorflow_decision_forests` is imported, or loading fails with "Op type not registered
'SimpleMLCreateModelResource'". Every loader in recfusion goes through `load`, and the
Evaluator's process and Beam workers call `register_ops` before TFMA loads the model.
"""
import functools

import tensorflow as tf


@functools.lru_cache(maxsize=None)
def register_ops() -> None:
  import tensorflow_decision_forests  # noqa: F401 (importing it registers the ops)
  from tensorflow_decision_forests.tensorflow import cc_logging
  # Its C++ code prints a line per model load straight to stderr, through the progress display
  # the CLI draws there; errors still surface as exceptions.
  cc_logging.set_yggdrasil_logging_level(0)
  _quiet_inference_library()


def _quiet_inference_library() -> None:
  """The inference ops' library keeps its own copy of YDF's logging level, which no op sets:
  write 0 into it (the handle is the one TensorFlow loaded). Without the symbol (another TF-DF
  build), the library logs as it does."""
  import ctypes
  import os
  from tensorflow_decision_forests.tensorflow.ops import inference
  library = os.path.join(os.path.dirname(inference.__file__), 'inference.so')
  try:
    level = ctypes.c_int.in_dll(ctypes.CDLL(library),
                                '_ZN26yggdrasil_decision_forests7logging13logging_levelE')
  except (OSError, ValueError):
    return
  level.value = 0


def load(path: str):
  register_ops()
  return tf.saved_model.load(path)


def transform_state(layer) -> dict:
  """The state of TFT's Keras layer that a SavedModel applying it must hold: the loaded
  Transform graph's table initializer, asset files and variables. Not the graph's own
  signature, nor the layer's wrapped function: each is another copy of the whole Transform
  graph (1,600 ops on the simulator's features), written and read back for nothing, since the
  functions that apply the layer hold the copy they traced."""
  tracked = getattr(layer, '_saved_model_loader_tracked_dict', None)
  imported = (tracked or {}).get('_imported')
  if imported is None:
    raise RuntimeError('tensorflow_transform no longer exposes the loaded graph its Keras '
                       'layer tracks (_saved_model_loader_tracked_dict["_imported"]); see '
                       'saved_models.transform_state')
  children = tf.train.TrackableView(imported).children(imported)
  return {name: child for name, child in children.items() if name != 'signatures'}
