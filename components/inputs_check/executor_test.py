"""Component tests: InputsCheck's executor against an empty registry and one whose newest
version was made from exactly these inputs."""
import os

import pytest

from recfusion import keys, registry
from recfusion.artifact_types import InputsCheck
from recfusion.components.inputs_check import executor

CONFIG_YAML = 'trainers:\n  dcn:\n    epochs: 3\n'


def _check(tmp_path, data_dir, registry_dir, force=0, **settings):
  result = InputsCheck()
  result.uri = str(tmp_path / 'result')
  executor.Executor().Do({}, {'result': [result]}, {
      'registry_dir': registry_dir, 'config_yaml': CONFIG_YAML, 'force': force,
      'data_dir': data_dir, 'window_spans': 4, 'dcn_epochs': 3, **settings})
  return result


@pytest.fixture
def production(tmp_path, handmade_dir):
  """A registry whose version 1 was pushed with the digest the check computes for
  `handmade_dir` and the settings of `_check`."""
  registry_dir = str(tmp_path / 'registry')
  digest = _check(tmp_path, handmade_dir, registry_dir).get_string_custom_property(
      keys.INPUTS_DIGEST)
  model = tmp_path / 'model'
  model.mkdir()
  (model / 'saved_model.pb').write_text('fused')
  registry.push(registry_dir, str(model), run_id='kfp-run-1', extra={keys.INPUTS_DIGEST: digest})
  return registry_dir


def test_no_model_in_production_means_the_pipeline_runs(tmp_path, handmade_dir):
  result = _check(tmp_path, handmade_dir, str(tmp_path / 'empty-registry'))
  assert result.get_int_custom_property(keys.INPUTS_CHANGED) == 1
  assert len(result.get_string_custom_property(keys.INPUTS_DIGEST)) == 16


def test_the_production_models_own_inputs_are_nothing_new(tmp_path, handmade_dir, production):
  result = _check(tmp_path, handmade_dir, production)
  assert result.get_int_custom_property(keys.INPUTS_CHANGED) == 0
  assert result.get_int_custom_property(keys.UNCHANGED_SINCE_VERSION) == 1


def test_another_runtime_parameter_value_is_new(tmp_path, handmade_dir, production):
  result = _check(tmp_path, handmade_dir, production, dcn_epochs=5)
  assert result.get_int_custom_property(keys.INPUTS_CHANGED) == 1


def test_a_rewritten_data_file_is_new(tmp_path, handmade_dir, production):
  catalog = f'{handmade_dir}/catalog.parquet'
  stamp = os.stat(catalog).st_mtime_ns + 10**9
  os.utime(catalog, ns=(stamp, stamp))
  assert _check(tmp_path, handmade_dir, production).get_int_custom_property(
      keys.INPUTS_CHANGED) == 1


def test_force_runs_the_pipeline_with_nothing_new(tmp_path, handmade_dir, production):
  result = _check(tmp_path, handmade_dir, production, force=1)
  assert result.get_int_custom_property(keys.INPUTS_CHANGED) == 1
  # The digest is the same: what the run pushes records it, as any run's push does.
  assert (result.get_string_custom_property(keys.INPUTS_DIGEST)
          == registry.latest(production).extra[keys.INPUTS_DIGEST])
