"""The compact export: the fused model without the members the fusion weighs near zero.

`fusion.method: auto` often ends with one ranker alone or a mix where some members weigh 0, yet
the full fused model still runs every member's graph on every request. The compact export
leaves those members out of the served graph: with `prune_below: 0` only members of weight
exactly 0 go, so the scores are the same and the model is smaller and faster; a larger
threshold also drops light members, which changes the scores. RegistryPusher measures what it
costs on eval before it pushes the compact model (recfusion/serving_check.py).
"""
import json
from typing import Any, Dict, Mapping, Optional

from recfusion import keys

# Beside the full model's Format-Serving in the Fusion's Model artifact.
COMPACT_DIR = 'Format-Serving-compact'


def pruned_members(weights: Mapping[str, float], prune_below: Optional[float]
                   ) -> Dict[str, float]:
  """{member: mean weight} of the members to leave out: |weight| at most `prune_below`, but
  never every member (the heaviest stays). None: nothing is pruned."""
  if prune_below is None or not weights:
    return {}
  heaviest = max(sorted(weights), key=lambda name: abs(weights[name]))
  return {name: float(weight) for name, weight in sorted(weights.items())
          if abs(weight) <= prune_below and name != heaviest}


def describe(prune_below: float, weights: Mapping[str, float],
             pruned: Mapping[str, float]) -> Dict[str, Any]:
  """What the Fusion records of its compact export (the Model's `compact` property)."""
  return {'prune_below': float(prune_below), 'pruned': dict(pruned),
          'kept': sorted(set(weights) - set(pruned)),
          **({'path': COMPACT_DIR} if pruned else {})}


def read(model: Any) -> Dict[str, Any]:
  """The `compact` property of a fused Model artifact; {} when no compact export was asked."""
  text = keys.string_property(model, keys.COMPACT)
  return json.loads(text) if text else {}
