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
from typing import Dict, Mapping, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from recfusion import keys
from recfusion.models import preprocessing, saved_models
from recfusion.models.fusion import methods


def ranker_inputs(loaded) -> Tuple[str, ...]:
  return tuple(sorted(
      loaded.signatures[keys.TRANSFORMED_SIGNATURE].structured_input_signature[1]))


class FusedRanker(tf.Module):

  def __init__(self, tft_output: tft.TFTransformOutput, ranker_dirs: Mapping[str, str],
               standardizers: Mapping[str, Tuple[float, float]], fusion: methods.FusionMethod,
               platt: Tuple[float, float], dropped: Sequence[str] = (),
               pruned: Sequence[str] = ()):
    """`dropped`: rankers left out of the fusion; their outputs are 0, so the signature keeps
    one output per ranker of the run. `pruned`: members of the fusion left out of this graph
    (the compact export): their standardized score counts as 0 and their output is 0."""
    super().__init__(name='fused_ranker')
    self._dropped = tuple(dropped) + tuple(pruned)
    self._pruned = tuple(pruned)
    self.tft_layer = tft_output.transform_features_layer()
    self.rankers = {name: saved_models.load(path) for name, path in ranker_dirs.items()
                    if name not in self._pruned}
    self._inputs = {name: ranker_inputs(model) for name, model in self.rankers.items()}
    self._standardizers = dict(standardizers)
    self._fusion = fusion
    self._platt = tuple(platt)
    raw_spec = tft_output.raw_feature_spec()
    for name in preprocessing.LABEL_ONLY_FEATURES:
      raw_spec.pop(name, None)
    # Assigned once complete: tf.Module tracks dict attributes and refuses later edits.
    self._raw_spec = raw_spec

  def score_transformed(self, transformed: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    outputs, standardized = {}, {}
    for name in sorted(self.rankers):
      signature = self.rankers[name].signatures[keys.TRANSFORMED_SIGNATURE]
      score = signature(**{k: transformed[k] for k in self._inputs[name]})[keys.SCORE_KEY]
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

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(self, serialized):
    transformed = self.tft_layer(tf.io.parse_example(serialized, self._raw_spec))
    return self.score_transformed(transformed)


def save(module: FusedRanker, path: str) -> None:
  tf.saved_model.save(module, path, signatures={
      keys.SERVING_SIGNATURE: module.serve.get_concrete_function()})
