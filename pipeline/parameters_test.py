"""Runtime parameters: the config's values by name, and --param strings typed and checked."""
import pytest

from recfusion.config import load_config
from recfusion.pipeline import parameters


def test_values_are_the_configs_with_one_epochs_parameter_per_epoch_trained_ranker():
  config = load_config(overrides=['data.window_spans=5', 'evaluation.ndcg10_floor=0.3',
                                  'trainers.dcn.epochs=2'])
  values = parameters.values(config, '/data/shop')
  assert values == {'data_dir': '/data/shop', 'window_spans': 5, 'ndcg10_floor': 0.3,
                    'tolerance': config.evaluation.tolerance, 'force': 0,
                    'text_epochs': config.trainers['text']['epochs'], 'dcn_epochs': 2,
                    'sequence_epochs': config.trainers['sequence']['epochs']}
  runtime = parameters.runtime(config, '/data/shop')
  assert {n: (p.ptype, p.default) for n, p in runtime.items()} == {
      n: (type(v), v) for n, v in values.items()}


def test_epochs_parameter_names_are_identifiers():
  assert parameters.epochs_parameter('two-tower') == 'two_tower_epochs'


DECLARED = {'window_spans': 'NUMBER_INTEGER', 'tolerance': 'NUMBER_DOUBLE',
            'data_dir': 'STRING', 'text_epochs': 'NUMBER_INTEGER', 'force': 'NUMBER_INTEGER'}


def test_typed_arguments():
  assert parameters.typed_arguments(DECLARED, {'window_spans': '3', 'tolerance': '1e-2',
                                               'data_dir': 'gs://b/x'}) == {
      'window_spans': 3, 'tolerance': 0.01, 'data_dir': 'gs://b/x'}


@pytest.mark.parametrize('given, message', [
    ({'epochs': '1'}, 'no such parameter'),
    ({'text_epochs': '1.5'}, 'text_epochs=1.5: expected a whole number'),
    ({'tolerance': 'x'}, 'tolerance=x: expected a number'),
    ({'tolerance': '-0.1'}, 'tolerance=-0.1: must be between 0.0 and 1.0'),
    ({'text_epochs': '0'}, 'text_epochs=0: must be at least 1'),
    ({'force': '2'}, 'force=2: must be between 0 and 1'),
])
def test_bad_arguments_name_the_parameter(given, message):
  with pytest.raises(ValueError, match=message):
    parameters.typed_arguments(DECLARED, given)
