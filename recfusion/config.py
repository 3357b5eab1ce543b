"""The run config: embedded YAML defaults, an optional YAML file, and `--set key=value` overrides.

Every key must exist in the defaults and keep the defaults' type, so a typo or a wrong value is
a ConfigError naming the key (exit code 2), not a surprise deep inside a component.
"""
import copy
import dataclasses
import importlib.resources
import re
from typing import Any, Dict, List, Optional, Sequence

import yaml

from recfusion.keys import SPLITS


class ConfigError(ValueError):
  """Bad configuration supplied by the user."""


@dataclasses.dataclass(frozen=True)
class ShopConfig:
  """The `generate` section: the simulated shop (recfusion/data/simulator.py, profiles.py)."""
  profile: str
  seed: int
  num_items: int
  num_users: int
  num_days: int
  requests_per_day: int
  impressions_per_request: int
  search_share: float
  no_impression_share: float
  file_format: str

  def __post_init__(self):
    if min(self.num_items, self.num_users, self.num_days, self.requests_per_day,
           self.impressions_per_request) < 1:
      raise ConfigError('generate: sizes must all be at least 1')
    if self.impressions_per_request > self.num_items:
      raise ConfigError('generate.impressions_per_request cannot exceed generate.num_items')
    from recfusion.data.profile_names import PROFILES
    if self.profile not in PROFILES:
      raise ConfigError(f'generate.profile must be one of {", ".join(PROFILES)}, '
                        f'not {self.profile!r}')
    if self.file_format not in ('parquet', 'csv'):
      raise ConfigError("generate.file_format must be 'parquet' or 'csv'")
    if not 0 <= self.search_share <= 1 or not 0 <= self.no_impression_share < 1:
      raise ConfigError(
          'generate.search_share and generate.no_impression_share are shares in [0, 1]')

  @classmethod
  def defaults(cls, **overrides) -> 'ShopConfig':
    """The embedded defaults' shop with some settings changed."""
    return cls(**{**default_dict()['generate'], **overrides})


@dataclasses.dataclass(frozen=True)
class SplitConfig:
  mode: str
  fractions: Dict[str, float]
  spans: Dict[str, List[int]]


@dataclasses.dataclass(frozen=True)
class DataConfig:
  dir: Optional[str]
  window_spans: int
  split: SplitConfig
  negatives_per_request: int
  history_max: int
  on_unknown_item: str
  earliest_timestamp: int
  seed: int
  pseudonymize_user_ids: Optional[str]


@dataclasses.dataclass(frozen=True)
class BeamConfig:
  direct_running_mode: str
  direct_num_workers: int
  extra_args: List[str]


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  name: str


@dataclasses.dataclass(frozen=True)
class CompactConfig:
  prune_below: Optional[float]
  max_ndcg_loss: float


@dataclasses.dataclass(frozen=True)
class FusionConfig:
  method: str
  grid_step: float
  compact: CompactConfig


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  ndcg10_floor: float
  tolerance: float
  min_eval_requests: int
  material_change: float
  member_tolerance: float
  block_broken_members: bool
  max_coverage_drop: float


@dataclasses.dataclass(frozen=True)
class PushConfig:
  dir: Optional[str]


@dataclasses.dataclass(frozen=True)
class Config:
  pipeline: PipelineConfig
  generate: ShopConfig
  data: DataConfig
  beam: BeamConfig
  trainers: Dict[str, Dict[str, Any]]  # ranker name -> hyperparameters
  fusion: FusionConfig
  evaluation: EvaluationConfig
  push: PushConfig
  kubeflow: Dict[str, Any]  # runner settings, read by pipeline/kubeflow_runner.py
  raw: Dict[str, Any]  # the resolved dict, as recorded with the run

  def to_yaml(self) -> str:
    """The resolved config as recorded with a run: secret-looking values redacted."""
    return yaml.safe_dump(redacted(self.raw), sort_keys=False)

  def secrets(self) -> List[str]:
    """The secret-looking values in this config, for scrubbing logs."""
    return secret_values(self.raw)


# Keys and `--flag=value` arguments whose values must never be written anywhere. A bare `key`
# is not one (a Kubernetes toleration's `key: nvidia.com/gpu`); `s3_access_key`, `api_key` are.
_SECRET_NAME = re.compile(r'secret|token|passw(or)?d|credential|[_-]key$|[_-]key[_-]|^api_?key',
                          re.IGNORECASE)
_FLAG = re.compile(r'^(--?[^=]+)=(.+)$')
REDACTED = '***'


def _walk_secrets(value: Any, name: str = ''):
  """(redacted copy, secret values found) of one config value."""
  if isinstance(value, dict):
    out, found = {}, []
    for key, item in value.items():
      out[key], inner = _walk_secrets(item, str(key))
      found += inner
    return out, found
  if isinstance(value, list):
    pairs = [_walk_secrets(item, name) for item in value]
    return [p[0] for p in pairs], [s for p in pairs for s in p[1]]
  if isinstance(value, str):
    flag = _FLAG.match(value)
    if flag and _SECRET_NAME.search(flag.group(1)):
      return f'{flag.group(1)}={REDACTED}', [flag.group(2)]
    if name and _SECRET_NAME.search(name) and value:
      return REDACTED, [value]
  return value, []


def redacted(raw: Dict[str, Any]) -> Dict[str, Any]:
  return _walk_secrets(raw)[0]


def secret_values(raw: Dict[str, Any]) -> List[str]:
  return sorted(set(_walk_secrets(raw)[1]), key=len, reverse=True)


RANKING_LOSSES = ('pointwise', 'pairwise', 'listwise')  # recfusion/models/losses.py


def default_dict() -> Dict[str, Any]:
  text = importlib.resources.files('recfusion').joinpath('defaults.yaml').read_text()
  return yaml.safe_load(text)


def _merge(base: Dict[str, Any], override: Dict[str, Any], where: str) -> None:
  for key, value in override.items():
    path = f'{where}.{key}' if where else key
    if key not in base:
      known = ', '.join(sorted(base)) or '(none)'
      raise ConfigError(f'unknown config key {path!r}; known keys here: {known}')
    # Mappings merge key by key, except those whose keys are the user's own names.
    if isinstance(base[key], dict) and base[key] and key not in ('spans', 'node_selector'):
      if not isinstance(value, dict):
        raise ConfigError(f'config key {path!r} must be a mapping, got {value!r}')
      _merge(base[key], value, path)
    else:
      base[key] = _coerce(base[key], value, path)


def _coerce(default: Any, value: Any, path: str) -> Any:
  """Checks `value` against the type of the default it replaces."""
  if default is None or value is None:
    return value
  if isinstance(default, bool):
    if isinstance(value, bool):
      return value
  elif isinstance(default, int):
    if isinstance(value, int) and not isinstance(value, bool):
      return value
  elif isinstance(default, float):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
    # YAML 1.1 (PyYAML) reads `1e-3` as text: a number all the same.
    if isinstance(value, str):
      try:
        return float(value)
      except ValueError:
        pass
  elif isinstance(default, str):
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
      return str(value)
  elif isinstance(default, list):
    if isinstance(value, list):
      return value
  elif isinstance(default, dict):
    if isinstance(value, dict):
      return value
  raise ConfigError(
      f'config key {path!r} expects {type(default).__name__}, got {value!r}')


def parse_set_option(option: str) -> Dict[str, Any]:
  """'data.window_spans=3' -> {'data': {'window_spans': 3}} (the value is parsed as YAML)."""
  if '=' not in option:
    raise ConfigError(f'--set expects key=value, got {option!r}')
  key, text = option.split('=', 1)
  if not key.strip():
    raise ConfigError(f'--set expects key=value, got {option!r}')
  try:
    value = yaml.safe_load(text) if text.strip() else ''
  except yaml.YAMLError as e:
    raise ConfigError(f'--set {key}: value {text!r} is not valid YAML: {e}') from e
  nested: Dict[str, Any] = value
  for part in reversed(key.strip().split('.')):
    nested = {part: nested}
  return nested


def load_config(config_file: Optional[str] = None,
                overrides: Sequence[str] = ()) -> Config:
  resolved = default_dict()
  if config_file:
    try:
      with open(config_file) as f:
        from_file = yaml.safe_load(f) or {}
    except OSError as e:
      raise ConfigError(f'cannot read config file {config_file}: {e.strerror}') from e
    except yaml.YAMLError as e:
      raise ConfigError(f'config file {config_file} is not valid YAML: {e}') from e
    if not isinstance(from_file, dict):
      raise ConfigError(f'config file {config_file} must hold a mapping at the top level')
    _merge(resolved, from_file, '')
  for option in overrides:
    _merge(resolved, parse_set_option(option), '')
  return _build(resolved)


def _number_or_text(value: Any) -> Any:
  """A key whose default is null takes any value; PyYAML reads `1e-3` as text."""
  try:
    return float(value) if isinstance(value, str) else value
  except ValueError:
    return value


def _build(raw: Dict[str, Any]) -> Config:
  compact = raw['fusion']['compact']
  compact['prune_below'] = _number_or_text(compact['prune_below'])
  data = dict(raw['data'])
  split = SplitConfig(**data.pop('split'))
  config = Config(
      pipeline=PipelineConfig(**raw['pipeline']),
      generate=ShopConfig(**raw['generate']),
      data=DataConfig(split=split, **data),
      beam=BeamConfig(**raw['beam']),
      trainers=copy.deepcopy(raw['trainers']),
      fusion=FusionConfig(**{**raw['fusion'],
                             'compact': CompactConfig(**raw['fusion']['compact'])}),
      evaluation=EvaluationConfig(**raw['evaluation']),
      push=PushConfig(**raw['push']),
      kubeflow=copy.deepcopy(raw['kubeflow']),
      raw=copy.deepcopy(raw),
  )
  _validate(config)
  return config


def _validate(config: Config) -> None:
  data = config.data
  if data.window_spans < 1:
    raise ConfigError('data.window_spans must be at least 1')
  if data.pseudonymize_user_ids is not None and not re.fullmatch(
      r'(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)', data.pseudonymize_user_ids):
    raise ConfigError("data.pseudonymize_user_ids is where the key is: 'env:NAME' or "
                      f"'file:PATH', got {data.pseudonymize_user_ids!r}")
  if data.on_unknown_item not in ('error', 'skip'):
    raise ConfigError("data.on_unknown_item must be 'error' or 'skip'")
  if data.negatives_per_request < 0 or data.history_max < 0:
    raise ConfigError('data.negatives_per_request and data.history_max must be >= 0')
  split = data.split
  if split.mode == 'fractions':
    if set(split.fractions) != set(SPLITS):
      raise ConfigError(f'data.split.fractions needs exactly the keys {list(SPLITS)}')
    if any(v <= 0 for v in split.fractions.values()):
      raise ConfigError('data.split.fractions must all be > 0')
    if abs(sum(split.fractions.values()) - 1.0) > 1e-6:
      raise ConfigError('data.split.fractions must sum to 1, got '
                        f'{sum(split.fractions.values()):g}')
  elif split.mode == 'spans':
    if set(split.spans) != set(SPLITS):
      raise ConfigError(f'data.split.spans needs exactly the keys {list(SPLITS)}')
    seen: Dict[int, str] = {}
    for name in SPLITS:
      spans = split.spans[name]
      if not spans or not all(isinstance(s, int) for s in spans):
        raise ConfigError(f'data.split.spans.{name} must be a non-empty list of span numbers')
      for span in spans:
        if span in seen:
          raise ConfigError(f'span {span} is in both data.split.spans.{seen[span]} '
                            f'and data.split.spans.{name}')
        seen[span] = name
  else:
    raise ConfigError("data.split.mode must be 'fractions' or 'spans'")
  if config.beam.direct_running_mode not in ('in_memory', 'multi_threading',
                                             'multi_processing'):
    raise ConfigError('beam.direct_running_mode must be in_memory, multi_threading '
                      'or multi_processing')
  # fusion.method and the trainers' names are checked against their registries when the
  # pipeline is built (recfusion/models/fusion/methods.py, recfusion/models/rankers/): both
  # need TensorFlow, which reading a config must not import.
  if not 0 < config.fusion.grid_step <= 0.5:
    raise ConfigError('fusion.grid_step must be in (0, 0.5]')
  prune_below = config.fusion.compact.prune_below
  if prune_below is not None and (isinstance(prune_below, bool)
                                  or not isinstance(prune_below, (int, float))
                                  or not 0 <= prune_below < 1):
    raise ConfigError('fusion.compact.prune_below is a fusion weight: null (off) or a number in '
                      f'[0, 1), got {prune_below!r}')
  if not 0 <= config.fusion.compact.max_ndcg_loss < 1:
    raise ConfigError('fusion.compact.max_ndcg_loss is a loss of NDCG@10: it must be in [0, 1), '
                      f'got {config.fusion.compact.max_ndcg_loss:g}')
  if config.evaluation.tolerance < 0:
    raise ConfigError('evaluation.tolerance must be >= 0')
  if config.evaluation.min_eval_requests < 1:
    raise ConfigError('evaluation.min_eval_requests must be a whole number >= 1')
  if not 0 <= config.evaluation.material_change < 1:
    raise ConfigError('evaluation.material_change is a change of NDCG@10: it must be in '
                      f'[0, 1), got {config.evaluation.material_change:g}')
  if not 0 <= config.evaluation.member_tolerance < 1:
    raise ConfigError('evaluation.member_tolerance is a shortfall of NDCG@10: it must be in '
                      f'[0, 1), got {config.evaluation.member_tolerance:g}')
  if not 0 <= config.evaluation.max_coverage_drop <= 1:
    raise ConfigError('evaluation.max_coverage_drop is a share of the eval items: it must be in '
                      f'[0, 1] (1 turns the check off), got {config.evaluation.max_coverage_drop:g}')
  if not 0 <= config.evaluation.ndcg10_floor <= 1:
    raise ConfigError('evaluation.ndcg10_floor is an NDCG@10: it must be in [0, 1], got '
                      f'{config.evaluation.ndcg10_floor:g}')
  for name, hparams in config.trainers.items():
    # Which keys a ranker needs is its own (rankers.Ranker.check_hparams, when the pipeline
    # is built); the ones it has are checked here.
    for key in ('epochs', 'batch_size', 'embedding_dim', 'hidden_units', 'num_trees',
                'max_depth', 'min_examples'):
      if key in hparams and (not isinstance(hparams[key], int) or hparams[key] < 1):
        raise ConfigError(f'trainers.{name}.{key} must be a whole number >= 1')
    if hparams.get('loss', 'pointwise') not in RANKING_LOSSES:
      raise ConfigError(f'trainers.{name}.loss must be one of {list(RANKING_LOSSES)}')
    if not isinstance(hparams.get('warm_start', True), bool):
      raise ConfigError(f'trainers.{name}.warm_start must be true or false')
    if not isinstance(hparams.get('embedding_l2', 0.0), (int, float)) or \
        hparams.get('embedding_l2', 0.0) < 0:
      raise ConfigError(f'trainers.{name}.embedding_l2 must be a number >= 0')
    if 'shrinkage' in hparams and not 0 < hparams['shrinkage'] <= 1:
      raise ConfigError(f'trainers.{name}.shrinkage must be in (0, 1], got '
                        f'{hparams["shrinkage"]:g}')
    if 'learning_rate' in hparams and not hparams['learning_rate'] > 0:
      raise ConfigError(f'trainers.{name}.learning_rate must be > 0, got '
                        f'{hparams["learning_rate"]:g}')
    if 'dropout' in hparams and not 0 <= hparams['dropout'] < 1:
      raise ConfigError(f'trainers.{name}.dropout must be in [0, 1), got {hparams["dropout"]:g}')
    if 'patience' in hparams and (not isinstance(hparams['patience'], int)
                                  or hparams['patience'] < 0):
      raise ConfigError(f'trainers.{name}.patience must be a whole number >= 0')
    if not isinstance(hparams.get('dropout', 0.0), (int, float)) or \
        not 0 <= hparams.get('dropout', 0.0) < 1:
      raise ConfigError(f'trainers.{name}.dropout must be in [0, 1)')
