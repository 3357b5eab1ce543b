"""Loading recfusion's SavedModels (the custom ops a member may hold are registered first), and
what a SavedModel applying the Transform graph holds of it.

The gbt ranker's SavedModel (and so every fused model holding it) calls TensorFlow Decision
Forests' inference ops. TF Serving (>= 2.11) has them built in; a Python process has them only
once `tensorflow_decision_forests` is imported, or loading fails with "Op type not registered
'SimpleMLCreateModelResource'". Every loader in recfusion goes through `load`, and the
Evaluator's process and Beam workers call `register_ops` before TFMA loads the model.
"""
import collections
import functools
import os

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


SERIALIZED_EXAMPLES = tf.TensorSpec([None], tf.string, name='examples')


class RawTransform:
  """The step every serving signature recfusion writes starts with: serialized raw
  tf.Examples parsed and put through the Transform graph, as one traced function.

  TFT's Keras layer, given the TF1 graph Transform writes, loads it (~0.5 s) and prunes a copy
  of the whole graph each time a function calling the layer is traced (~0.5 s). The local
  runner runs the Trainers and Fusion in one process, and each SavedModel's serving signature
  calls this function: one load and one trace per Transform graph, not five of each, as long
  as the signatures are traced outside `tf.saved_model.save` (TensorFlow keys a trace by the
  save context it was made in).
  """

  def __init__(self, tft_output, label_only_features=()):
    layer = tft_output.transform_features_layer()
    #: What a SavedModel whose signatures call `apply` must track (see transform_state).
    self.state = transform_state(layer)
    raw_spec = tft_output.raw_feature_spec()
    for name in label_only_features:
      raw_spec.pop(name, None)
    self.raw_spec = raw_spec
    self.apply = tf.function(lambda serialized: layer(tf.io.parse_example(serialized, raw_spec)),
                             input_signature=[SERIALIZED_EXAMPLES])


_RAW_TRANSFORMS: 'collections.OrderedDict[tuple, RawTransform]' = collections.OrderedDict()
_KEPT = 2  # a process that reads several Transform graphs (the tests) holds a few MB each


def raw_transform(tft_output) -> RawTransform:
  """This process's RawTransform of `tft_output`'s Transform graph, built on first use."""
  # Here, not at the top: Beam workers import this module (the metrics' preprocessors) and
  # need not import tensorflow_transform.
  from recfusion.models import preprocessing
  graph_dir = tft_output.transform_savedmodel_dir
  # With the file's time and size: a folder emptied and written again (a home deleted and run
  # anew in one process) holds another graph under the same name.
  stat = tf.io.gfile.stat(os.path.join(graph_dir, 'saved_model.pb'))
  key = (graph_dir, stat.mtime_nsec, stat.length)
  if key not in _RAW_TRANSFORMS:
    _RAW_TRANSFORMS[key] = RawTransform(tft_output, preprocessing.LABEL_ONLY_FEATURES)
    while len(_RAW_TRANSFORMS) > _KEPT:
      _RAW_TRANSFORMS.popitem(last=False)
  _RAW_TRANSFORMS.move_to_end(key)
  return _RAW_TRANSFORMS[key]
