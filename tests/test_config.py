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
    ('data.windw_spans=3', "unknown config key 'data.windw_spans'; known keys here: dir, "),
    ('data.window_spans=three', "config key 'data.window_spans' (use only the newest W spans): "
                                "input should be a valid integer, got 'three'"),
    ('data.window_spans=0', "config key 'data.window_spans' (use only the newest W spans): input "
                            'should be greater than or equal to 1, got 0'),
    ('data.split.fractions.train=0.9', 'data.split: fractions must sum to 1, got 1.2'),
    ('data.split.mode=random', "config key 'data.split.mode': input should be 'fractions' or "
                               "'spans', got 'random'"),
    ('data.on_unknown_item=ignore', "config key 'data.on_unknown_item': input should be 'error' "
                                    "or 'skip', got 'ignore'"),
    ('data', '--set expects key=value'),
    ('data=3', "config key 'data' must be a mapping"),
    ('trainers.dcn.loss=hinge', "config key 'trainers.dcn.loss': input should be 'pointwise', "
                                "'pairwise' or 'listwise', got 'hinge'"),
    ('trainers.text.warm_start=sometimes', "config key 'trainers.text.warm_start': input should "
                                           "be a valid boolean, got 'sometimes'"),
    ('trainers.dcn.epochs=true', "config key 'trainers.dcn.epochs': input should be a valid "
                                 'integer, got True'),
    ('trainers.gbt.epochs=3', "unknown config key 'trainers.gbt.epochs'; known keys here: "
                              'max_depth, min_examples, num_trees, seed, shrinkage'),
    ('trainers.sequence.embedding_l2=-1', "config key 'trainers.sequence.embedding_l2': input "
                                          'should be greater than or equal to 0, got -1'),
    ('trainers.dcn.learning_rate=-1', "config key 'trainers.dcn.learning_rate': input should be "
                                      'greater than 0, got -1'),
    ('trainers.dcn.learning_rate=fast', "config key 'trainers.dcn.learning_rate': input should "
                                        "be a valid number, got 'fast'"),
    ('trainers.text.dropout=1.5', "config key 'trainers.text.dropout': input should be less "
                                  'than 1, got 1.5'),
    ('trainers.text.patience=-2', "config key 'trainers.text.patience' (epochs without a better "
                                  'validation loss before stopping): input should be greater '
                                  'than or equal to 0, got -2'),
    ('evaluation.ndcg10_floor=7', "config key 'evaluation.ndcg10_floor' (an NDCG@10): input "
                                  'should be less than or equal to 1, got 7'),
    ('evaluation.min_eval_requests=0', "config key 'evaluation.min_eval_requests': input should "
                                       'be greater than or equal to 1, got 0'),
    ('evaluation.min_eval_requests=lots', "config key 'evaluation.min_eval_requests': input "
                                          "should be a valid integer, got 'lots'"),
    ('evaluation.material_change=-0.1', "config key 'evaluation.material_change' (a change of "
                                        'NDCG@10): input should be greater than or equal to 0, '
                                        'got -0.1'),
    ('evaluation.member_tolerance=2', "config key 'evaluation.member_tolerance' (a shortfall of "
                                      'NDCG@10): input should be less than 1, got 2'),
    ('data.pseudonymize_user_ids=hunter2', "config key 'data.pseudonymize_user_ids' (where the "
                                           "key is: 'env:NAME' or 'file:PATH'): string should "
                                           'match pattern'),
    ('fusion.compact.prune_below=lots', "config key 'fusion.compact.prune_below' (a fusion "
                                        "weight; null is off): input should be a valid number, "
                                        "got 'lots'"),
    ('fusion.compact.prune_below=1', "config key 'fusion.compact.prune_below' (a fusion weight; "
                                     'null is off): input should be less than 1, got 1'),
    ('fusion.compact.max_ndcg_loss=-0.01', "config key 'fusion.compact.max_ndcg_loss' (a loss of "
                                           'NDCG@10): input should be greater than or equal to '
                                           '0, got -0.01'),
    ('evaluation.max_coverage_drop=-0.1', "config key 'evaluation.max_coverage_drop' (a share of "
                                          'the eval items; 1 turns the check off): input should '
                                          'be greater than or equal to 0, got -0.1'),
    ('generate.profile=mall', "generate.profile: must be one of shop, search_graded, sessions, "
                              "not 'mall'"),
    ('generate.impressions_per_request=900', 'generate: impressions_per_request cannot exceed '
                                             'num_items'),
    ('kubeflow.resources.memory=[8]', 'kubeflow.resources.memory: must be a Kubernetes quantity '
                                      '(for example 8Gi, 512Mi, 500m, 2), got [8]'),
    ('kubeflow.user_id_key_secret=shop-user-key',
     "config key 'kubeflow.user_id_key_secret' (the Kubernetes Secret of the pseudonymization "
     "key: {name: SECRET, key: KEY}) must be a mapping, got 'shop-user-key'"),
    ('kubeflow.user_id_key_secret={name: s}', "config key 'kubeflow.user_id_key_secret.key' is "
                                              'missing'),
])
def test_bad_overrides_name_the_key(override, message):
  with pytest.raises(ConfigError, match=None) as error:
    load_config(overrides=[override])
  assert message in str(error.value)


def test_span_split_needs_disjoint_lists():
  with pytest.raises(ConfigError, match='data.split: span 2 is in both spans.train and '
                                        'spans.validation'):
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


def test_every_bad_key_is_named_at_once():
  with pytest.raises(ConfigError) as error:
    load_config(overrides=['data.window_spans=0', 'evaluation.tolerance=-1'])
  assert str(error.value) == (
      "config key 'data.window_spans' (use only the newest W spans): input should be greater "
      "than or equal to 1, got 0; config key 'evaluation.tolerance' (a shortfall of NDCG@10 vs "
      "production): input should be greater than or equal to 0, got -1")


def test_values_keep_their_meaning_not_their_yaml_spelling():
  config = load_config(overrides=['pipeline.name=2024', 'kubeflow.resources.memory=8GB',
                                  'generate.search_share=1'])
  assert config.pipeline.name == '2024'
  # Kubernetes quantities are parsed when the pipeline is compiled (kubeflow_runner_test).
  assert config.kubeflow['resources'] == {'cpu': 2, 'memory': '8GB'}
  assert config.generate.search_share == 1.0 and isinstance(config.generate.search_share, float)


def test_the_recorded_config_has_each_rankers_own_keys_only():
  raw = load_config().raw
  assert set(raw['trainers']['gbt']) == {'num_trees', 'max_depth', 'shrinkage', 'min_examples',
                                         'seed'}
  assert raw['trainers']['dcn']['loss'] == 'pointwise'
  assert raw['kubeflow']['user_id_key_secret'] is None
  assert load_config(overrides=['kubeflow.user_id_key_secret={name: s, key: k}']).kubeflow[
      'user_id_key_secret'] == {'name': 's', 'key': 'k'}


def test_a_shop_built_on_its_own_names_its_bad_settings():
  from recfusion.config import ShopConfig
  with pytest.raises(ConfigError) as error:
    ShopConfig.defaults(num_items=0, file_format='xlsx')
  assert str(error.value) == (
      "config key 'generate.num_items': input should be greater than or equal to 1, got 0; "
      "config key 'generate.file_format': input should be 'parquet' or 'csv', got 'xlsx'")


def test_beam_pickles_with_cloudpickle_unless_set_and_other_picklers_are_refused_by_key():
  assert load_config().beam.pickle_library == 'cloudpickle'
  assert load_config(overrides=['beam.pickle_library=dill']).beam.pickle_library == 'dill'
  with pytest.raises(ConfigError, match='beam.pickle_library') as error:
    load_config(overrides=['beam.pickle_library=pickle'])
  assert 'cloudpickle' in str(error.value)
