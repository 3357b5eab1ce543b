"""LogJoinExampleGen: the data-fusion step of the DAG (docs/architecture.md §2, §3).

Reads a shop's data directory (catalog, users, event spans), selects the newest W spans itself,
and writes one tf.Example per (request, candidate) split by time into train/validation/eval.
Span selection happens in the executor, not in a {SPAN} driver, so the same component runs on
Kubeflow Pipelines where custom drivers do not.
"""
import json
from typing import Mapping, Sequence

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx import types

from recfusion.components.log_join_example_gen import executor


class LogJoinExampleGenSpec(ComponentSpec):
  PARAMETERS = {
      'input_base': ExecutionParameter(type=str),
      'window_spans': ExecutionParameter(type=int),
      # JSON: {"mode": "fractions", "fractions": {...}} or {"mode": "spans", "spans": {...}}
      'split_config': ExecutionParameter(type=str),
      'negatives_per_request': ExecutionParameter(type=int),
      'history_max': ExecutionParameter(type=int),
      'on_unknown_item': ExecutionParameter(type=str),
      'earliest_timestamp': ExecutionParameter(type=int),
      'seed': ExecutionParameter(type=int),
      # Changes when the input files change, so that a cached result is not reused for new
      # data (a custom component has no ExampleGen driver to fingerprint its input).
      'input_fingerprint': ExecutionParameter(type=str, optional=True),
      # data.pseudonymize_user_ids: where the key is ('env:NAME', 'file:PATH'); '' = off.
      'user_id_key_source': ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class LogJoinExampleGen(base_beam_component.BaseBeamComponent):
  SPEC_CLASS = LogJoinExampleGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  # Every setting is the `data` section of the run config (recfusion/defaults.yaml): no
  # defaults here, so the config is the one place they are decided.
  def __init__(self, input_base: str, window_spans: int, split_mode: str,
               split_fractions: Mapping[str, float],
               split_spans: Mapping[str, Sequence[int]], negatives_per_request: int,
               history_max: int, on_unknown_item: str, earliest_timestamp: int, seed: int,
               input_fingerprint: str = '', user_id_key_source: str = ''):
    split_config = {'mode': split_mode, 'fractions': dict(split_fractions)}
    if split_mode == 'spans':
      split_config['spans'] = {k: list(v) for k, v in split_spans.items()}
    spec = LogJoinExampleGenSpec(
        input_base=input_base, window_spans=window_spans,
        split_config=json.dumps(split_config, sort_keys=True),
        negatives_per_request=negatives_per_request, history_max=history_max,
        on_unknown_item=on_unknown_item, earliest_timestamp=earliest_timestamp, seed=seed,
        input_fingerprint=input_fingerprint, user_id_key_source=user_id_key_source,
        examples=types.Channel(type=standard_artifacts.Examples))
    super().__init__(spec=spec)
