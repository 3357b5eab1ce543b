"""The fused model: one SavedModel, one graph, Transform applied once, the rankers inside.

serving_default: serialized raw tf.Example -> {
    'score':       the fused ranking score: the fusion method's formula (methods.py) over the
                   standardized base scores z_k = (s_k - mean_k) / std_k and request context
    'probability': calibrated engagement probability, sigmoid(a * score + b)
    '<ranker>':    each base ranker's own score, by ranker name
}
The base rankers are the Trainers' SavedModels, loaded and called through their
`transformed_features` signatures, so the fused model scores exactly what they score.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

import tensorflow as tf
import tensorflow_transform as tft

from recfusion import keys
from recfusion.models import saved_models
from recfusion.models.fusion import methods


def ranker_inputs(loaded) -> Tuple[str, ...]:
  return tuple(sorted(
      loaded.signatures[keys.TRANSFORMED_SIGNATURE].structured_input_signature[1]))


def load_member(model):
  """A ranker's loaded SavedModel from its folder, or as given when already loaded (the Fusion
  step loads each member once for scoring and export: a load is seconds)."""
  return saved_models.load(model) if isinstance(model, str) else model


def captured_state(loaded, function) -> List[tf.Module]:
  """The variables and resources of `loaded` that `function` captures, in capture order.
  Constants it captures are saved with the function itself."""
  owners = {}
  for obj in tf.train.TrackableView(loaded).descendants():
    if isinstance(obj, tf.Variable):
      owners[id(obj.handle)] = obj
    elif hasattr(obj, 'resource_handle'):  # a TF-DF forest, a lookup table
      owners[id(obj.resource_handle)] = obj
  return [owners[id(c)] for c in function.captured_inputs if id(c) in owners]


def member_variables(loaded_fused, ranker: str) -> Optional[Dict[str, np.ndarray]]:
  """A ranker's variable values by name in a loaded fused model; None when it has no such
  member. Models pushed before `member_state` kept the loaded rankers under `rankers`."""
  state = getattr(loaded_fused, 'member_state', None)
  if state is not None:
    if ranker not in state:
      return None
    return {v.name: v.numpy() for v in state[ranker] if isinstance(v, tf.Variable)}
  rankers = getattr(loaded_fused, 'rankers', None)
  if rankers is None or ranker not in rankers:
    return None
  signature = rankers[ranker].signatures[keys.TRANSFORMED_SIGNATURE]
  return {v.name: v.numpy() for v in signature.variables}


class FusedRanker(tf.Module):

  def __init__(self, tft_output: tft.TFTransformOutput, ranker_dirs: Mapping[str, object],
               standardizers: Mapping[str, Tuple[float, float]], fusion: methods.FusionMethod,
               platt: Tuple[float, float], dropped: Sequence[str] = (),
               pruned: Sequence[str] = ()):
    """`ranker_dirs`: each member's SavedModel folder, or that model loaded.
    `dropped`: rankers left out of the fusion; their outputs are 0, so the signature keeps
    one output per ranker of the run. `pruned`: members of the fusion left out of this graph
    (the compact export): their standardized score counts as 0 and their output is 0."""
    super().__init__(name='fused_ranker')
    self._dropped = tuple(dropped) + tuple(pruned)
    self._pruned = tuple(pruned)
    # The Transform graph's state is tracked, not TFT's layer: saving a Keras layer inside a
    # tf.Module traced its call functions for Keras metadata nothing reads, 2.5 s of an 11.7 s
    # Fusion step on the quick shop and a third of the SavedModel (2.5 -> 1.6 MB).
    self._raw_transform = saved_models.raw_transform(tft_output)
    self.transform_state = self._raw_transform.state
    loaded = {name: load_member(model) for name, model in ranker_dirs.items()
              if name not in self._pruned}
    # The fused graph calls each ranker's `transformed_features` function and tracks only the
    # variables and resources that function captures, not the loaded Keras object: saving
    # that object re-wrote every layer's restored functions (38 s of a 93 s Fusion step on a
    # small run) and every later load (Evaluator, serving) read them back for nothing.
    self._signatures = self._no_dependency(
        {name: model.signatures[keys.TRANSFORMED_SIGNATURE] for name, model in loaded.items()})
    self._loaded = self._no_dependency(loaded)  # keeps the captured resources alive
    self.member_state = {name: captured_state(model, self._signatures[name])
                         for name, model in loaded.items()}
    self._inputs = {name: ranker_inputs(model) for name, model in loaded.items()}
    self._standardizers = dict(standardizers)
    self._fusion = fusion
    self._platt = tuple(platt)

  def score_transformed(self, transformed: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    outputs, standardized = {}, {}
    for name in sorted(self._signatures):
      inputs = {k: transformed[k] for k in self._inputs[name]}
      score = self._signatures[name](**inputs)[keys.SCORE_KEY]
      outputs[name] = score
      mean, std = self._standardizers[name]
      standardized[name] = (score - mean) / std
    for name in self._pruned:
      standardized[name] = tf.zeros_like(next(iter(outputs.values())))
    fused = self._fusion.score_tf(
        standardized, {k: transformed[k] for k in methods.CONTEXT_FEATURES})
    for name in self._dropped:
      outputs[name] = tf.zeros_like(fused)
    a, b = self._platt
    outputs[keys.SCORE_KEY] = fused
    outputs[keys.PROBABILITY_KEY] = tf.sigmoid(a * fused + b)
    return outputs

  def serve(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    return self.score_transformed(self._raw_transform.apply(serialized))


def save(module: FusedRanker, path: str) -> None:
  """Writes the serving signature's one trace. `serve` is not a tf.function of the module:
  tf.saved_model.save traces a module's functions again, inside its save context, and that
  second trace held its own copy of the Transform graph."""
  serve = tf.function(module.serve, input_signature=[saved_models.SERIALIZED_EXAMPLES])
  tf.saved_model.save(module, path, signatures={
      keys.SERVING_SIGNATURE: serve.get_concrete_function()})
