"""Component tests: RegistryPusher pushes blessed models only."""
import os

import pytest

from tfx.types import standard_artifacts

from recfusion import keys, registry
from recfusion.components.registry_pusher import executor


def _artifacts(tmp_path, blessed):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  os.makedirs(os.path.join(model.uri, 'Format-Serving'))
  with open(os.path.join(model.uri, 'Format-Serving', 'saved_model.pb'), 'w') as f:
    f.write('fused')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  blessing.set_int_custom_property('blessed', int(blessed))
  examples = standard_artifacts.Examples()
  examples.set_string_custom_property('spans', '5,6')
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / 'evaluation')
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed')
  os.makedirs(pushed.uri)
  return ({'model': [model], 'model_blessing': [blessing], 'examples': [examples],
           'evaluation': [evaluation]}, {'pushed_model': [pushed]}, pushed)


def test_a_model_that_is_not_blessed_is_not_pushed(tmp_path):
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=False)
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_int_custom_property(keys.PUSHED) == 0
  assert not os.path.exists(directory)


def test_a_blessed_model_becomes_the_next_version(tmp_path, monkeypatch):
  monkeypatch.setattr(executor.results, 'headline', lambda uri: {'ndcg@10': 0.61})
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  directory = str(tmp_path / 'registry')
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory,
                                            'inputs_digest': 'abc123'})
  assert pushed.get_int_custom_property(keys.PUSHED) == 1
  assert pushed.get_string_custom_property(keys.PUSHED_VERSION) == '1'
  record = registry.latest(directory)
  assert (record.version, record.spans, record.metrics) == (1, [5, 6], {'ndcg@10': 0.61})
  # What the next run compares its own digest with ("nothing new").
  assert record.extra[keys.INPUTS_DIGEST] == 'abc123'
  with open(os.path.join(record.path, 'saved_model.pb')) as f:
    assert f.read() == 'fused'


def test_a_model_evaluated_against_a_replaced_baseline_is_not_pushed(tmp_path, monkeypatch):
  monkeypatch.setattr(executor.results, 'headline', lambda uri: {'ndcg@10': 0.61})
  directory = str(tmp_path / 'registry')
  for name in ('v1', 'v2'):
    (tmp_path / name).mkdir()
    registry.push(directory, str(tmp_path / name))
  inputs, outputs, pushed = _artifacts(tmp_path, blessed=True)
  baseline = standard_artifacts.Model()
  baseline.set_int_custom_property(keys.BASELINE_FOUND, 1)
  baseline.set_int_custom_property(keys.BASELINE_VERSION, 1)  # the Evaluator compared with 1
  inputs['baseline_model'] = [baseline]
  with pytest.raises(registry.RegistryError, match='now version 2, not 1'):
    executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert registry.version_folders(directory) == [1, 2]
  baseline.set_int_custom_property(keys.BASELINE_VERSION, 2)
  executor.Executor().Do(inputs, outputs, {'registry_dir': directory})
  assert pushed.get_string_custom_property(keys.PUSHED_VERSION) == '3'
