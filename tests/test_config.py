"""Unit tests of the run config: defaults, file and --set overrides, and errors naming the key."""
import pytest

from recfusion.config import ConfigError, load_config, parse_set_option


def test_defaults_load():
  config = load_config()
  assert config.data.window_spans == 7
  assert config.beam.direct_running_mode == 'in_memory'
  assert config.raw['data']['split']['mode'] == 'fractions'


def test_set_parses_yaml_values_into_nested_keys():
  assert parse_set_option('data.split.spans.train=[1, 2]') == {
      'data': {'split': {'spans': {'train': [1, 2]}}}}
  config = load_config(overrides=['data.window_spans=3', 'generate.search_share=1'])
  assert config.data.window_spans == 3
  assert config.generate.search_share == 1.0


def test_file_then_set_overrides(tmp_path):
  path = tmp_path / 'c.yaml'
  path.write_text('data:\n  window_spans: 2\n  history_max: 5\n')
  config = load_config(str(path), ['data.window_spans=4'])
  assert (config.data.window_spans, config.data.history_max) == (4, 5)
  assert 'window_spans: 4' in config.to_yaml()


@pytest.mark.parametrize('override, message', [
    ('data.windw_spans=3', "unknown config key 'data.windw_spans'"),
    ('data.window_spans=three', "config key 'data.window_spans' expects int, got 'three'"),
    ('data.window_spans=0', 'data.window_spans must be at least 1'),
    ('data.split.fractions.train=0.9', 'data.split.fractions must sum to 1'),
    ('data.split.mode=random', "data.split.mode must be 'fractions' or 'spans'"),
    ('data.on_unknown_item=ignore', "data.on_unknown_item must be 'error' or 'skip'"),
    ('data', '--set expects key=value'),
    ('data=3', "config key 'data' must be a mapping"),
    ('trainers.dcn.loss=hinge',
     "trainers.dcn.loss must be one of ['pointwise', 'pairwise', 'listwise']"),
    ('trainers.text.warm_start=sometimes', 'expects bool'),
    ('trainers.sequence.embedding_l2=-1', 'trainers.sequence.embedding_l2 must be a number >= 0'),
    ('trainers.dcn.learning_rate=-1', 'trainers.dcn.learning_rate must be > 0, got -1'),
    ('trainers.dcn.learning_rate=fast', "'trainers.dcn.learning_rate' expects float, got 'fast'"),
    ('trainers.text.dropout=1.5', 'trainers.text.dropout must be in [0, 1), got 1.5'),
    ('trainers.text.patience=-2', 'trainers.text.patience must be a whole number >= 0'),
    ('evaluation.ndcg10_floor=7', 'evaluation.ndcg10_floor is an NDCG@10: it must be in [0, 1]'),
    ('evaluation.min_eval_requests=0', 'evaluation.min_eval_requests must be a whole number >= 1'),
    ('evaluation.min_eval_requests=lots', "'evaluation.min_eval_requests' expects int"),
    ('evaluation.material_change=-0.1', 'evaluation.material_change is a change of NDCG@10: it '
                                        'must be in [0, 1), got -0.1'),
    ('evaluation.member_tolerance=2', 'evaluation.member_tolerance is a shortfall of NDCG@10: '
                                      'it must be in [0, 1), got 2'),
    ('data.pseudonymize_user_ids=hunter2', "data.pseudonymize_user_ids is where the key is: "
                                           "'env:NAME' or 'file:PATH', got 'hunter2'"),
    ('fusion.compact.prune_below=lots', 'fusion.compact.prune_below is a fusion weight: null '
                                        "(off) or a number in [0, 1), got 'lots'"),
    ('fusion.compact.prune_below=1', 'fusion.compact.prune_below is a fusion weight'),
    ('fusion.compact.max_ndcg_loss=-0.01', 'fusion.compact.max_ndcg_loss is a loss of NDCG@10: '
                                           'it must be in [0, 1), got -0.01'),
    ('evaluation.max_coverage_drop=-0.1', 'evaluation.max_coverage_drop is a share of the eval '
                                          'items: it must be in [0, 1] (1 turns the check off), '
                                          'got -0.1'),
])
def test_bad_overrides_name_the_key(override, message):
  with pytest.raises(ConfigError, match=None) as error:
    load_config(overrides=[override])
  assert message in str(error.value)


def test_span_split_needs_disjoint_lists():
  with pytest.raises(ConfigError, match='span 2 is in both'):
    load_config(overrides=['data.split.mode=spans', 'data.split.spans={train: [1, 2], '
                           'validation: [2], eval: [3]}'])


def test_unreadable_config_file(tmp_path):
  with pytest.raises(ConfigError, match='cannot read config file'):
    load_config(str(tmp_path / 'missing.yaml'))
  bad = tmp_path / 'bad.yaml'
  bad.write_text('data: [unclosed\n')
  with pytest.raises(ConfigError, match='is not valid YAML'):
    load_config(str(bad))


def test_secret_looking_values_are_redacted_in_the_recorded_config():
  config = load_config(overrides=[
      'beam.extra_args=["--s3_secret_access_key=abc123", "--runner=FlinkRunner", '
      '"--aws_access_key_id=AKIA9", "--api-key=zz"]'])
  recorded = config.to_yaml()
  assert '--s3_secret_access_key=***' in recorded and 'abc123' not in recorded
  assert '--aws_access_key_id=***' in recorded and 'AKIA9' not in recorded
  assert '--api-key=***' in recorded and '--runner=FlinkRunner' in recorded
  # A toleration's bare `key` is not a secret.
  assert 'key: nvidia.com/gpu' in recorded
  assert config.secrets() == ['abc123', 'AKIA9', 'zz']
  # The config the run uses keeps the real values.
  assert '--s3_secret_access_key=abc123' in config.beam.extra_args


def test_the_run_log_formatter_scrubs_the_secrets():
  import logging
  from recfusion.pipeline.local_runner import SecretScrubbingFormatter
  formatter = SecretScrubbingFormatter('%(message)s', secrets=['abc123', ''])
  record = logging.LogRecord('tfx', logging.INFO, __file__, 1,
                             "beam args ['--s3_secret_access_key=%s']", ('abc123',), None)
  assert formatter.format(record) == "beam args ['--s3_secret_access_key=***']"


def test_exponent_notation_is_a_number():
  # PyYAML reads 1e-3 (no dot) as text; the config takes it as the number it means.
  assert load_config(overrides=['trainers.dcn.learning_rate=1e-3']).trainers['dcn'][
      'learning_rate'] == 0.001


def test_compact_export_is_off_by_default_and_takes_exponent_notation():
  assert load_config().fusion.compact.prune_below is None
  compact = load_config(overrides=['fusion.compact.prune_below=1e-3']).fusion.compact
  assert (compact.prune_below, compact.max_ndcg_loss) == (0.001, 0.002)
  assert load_config(overrides=['fusion.compact.prune_below=0']).fusion.compact.prune_below == 0
