"""The run config: embedded YAML defaults, an optional YAML file, and `--set key=value` overrides.

The defaults name every key there is, so the file and the overrides are merged into them and an
unknown key is refused with the keys known there. The merged document is then validated by the
pydantic models below (types, ranges, allowed values), and every failure becomes a ConfigError
naming the key and what it means (exit code 2), not a surprise deep inside a component.
"""
import copy
import dataclasses
import importlib.resources
import re
import typing
from typing import Annotated, Any, Dict, List, Literal, Optional, Sequence, Tuple

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, Field, Strict

from recfusion.keys import SPLITS


class ConfigError(ValueError):
  """Bad configuration supplied by the user."""


def _yaml_number(value: Any) -> Any:
  # PyYAML (YAML 1.1) reads `1e-3` (no dot) as text: a number all the same.
  if isinstance(value, str):
    try:
      return float(value)
    except ValueError:
      pass
  return value


def _number_as_text(value: Any) -> Any:
  # `pipeline.name: 2024` is a name, even though YAML reads a number.
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return str(value)
  return value


# Strict: `true` is not the number 1 and `"3"` is not a count.
Count = Annotated[int, Strict()]
Number = Annotated[float, Strict(), BeforeValidator(_yaml_number)]
Text = Annotated[str, Strict(), BeforeValidator(_number_as_text)]
Flag = Annotated[bool, Strict()]


class Section(BaseModel):
  """A config section: unknown keys refused, values fixed once read."""
  model_config = pydantic.ConfigDict(extra='forbid', frozen=True)


class PipelineConfig(Section):
  name: Text = Field(description='the pipeline name in ML Metadata')


class ShopConfig(Section):
  """The `generate` section: the simulated shop (recfusion/data/simulator.py, profiles.py)."""
  profile: str = Field(description='the simulated shop')
  seed: Count
  num_items: Count = Field(ge=1)
  num_users: Count = Field(ge=1)
  num_days: Count = Field(ge=1)
  requests_per_day: Count = Field(ge=1)
  impressions_per_request: Count = Field(ge=1)
  search_share: Number = Field(ge=0, le=1, description='a share of the requests')
  no_impression_share: Number = Field(ge=0, lt=1, description='a share of the requests')
  file_format: Literal['parquet', 'csv']

  @pydantic.field_validator('profile')
  @classmethod
  def _known_profile(cls, profile: str) -> str:
    from recfusion.data.profile_names import PROFILES
    if profile not in PROFILES:
      raise ValueError(f'must be one of {", ".join(PROFILES)}, not {profile!r}')
    return profile

  @pydantic.model_validator(mode='after')
  def _impressions_fit_the_catalog(self) -> 'ShopConfig':
    if self.impressions_per_request > self.num_items:
      raise ValueError('impressions_per_request cannot exceed num_items')
    return self

  @classmethod
  def defaults(cls, **overrides) -> 'ShopConfig':
    """The embedded defaults' shop with some settings changed; ConfigError names a bad one."""
    try:
      return cls(**{**default_dict()['generate'], **overrides})
    except pydantic.ValidationError as e:
      raise explain(e, ('generate',)) from None


class SplitConfig(Section):
  mode: Literal['fractions', 'spans']
  fractions: Dict[str, Number]
  spans: Dict[str, List[Count]]

  @pydantic.model_validator(mode='after')
  def _complete(self) -> 'SplitConfig':
    if self.mode == 'fractions':
      if set(self.fractions) != set(SPLITS):
        raise ValueError(f'fractions needs exactly the keys {list(SPLITS)}')
      if any(v <= 0 for v in self.fractions.values()):
        raise ValueError('fractions must all be > 0')
      if abs(sum(self.fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f'fractions must sum to 1, got {sum(self.fractions.values()):g}')
    else:
      if set(self.spans) != set(SPLITS):
        raise ValueError(f'spans needs exactly the keys {list(SPLITS)}')
      seen: Dict[int, str] = {}
      for name in SPLITS:
        if not self.spans[name]:
          raise ValueError(f'spans.{name} must be a non-empty list of span numbers')
        for span in self.spans[name]:
          if span in seen:
            raise ValueError(f'span {span} is in both spans.{seen[span]} and spans.{name}')
          seen[span] = name
    return self


class DataConfig(Section):
  dir: Optional[Text] = Field(description="the shop's data directory")
  window_spans: Count = Field(ge=1, description='use only the newest W spans')
  split: SplitConfig
  negatives_per_request: Count = Field(ge=0)
  history_max: Count = Field(ge=0, description="most recent positive items kept as the user's "
                             'history')
  on_unknown_item: Literal['error', 'skip']
  earliest_timestamp: Count = Field(description='older event times are refused')
  seed: Count
  pseudonymize_user_ids: Optional[str] = Field(
      pattern=r'^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$',
      description="where the key is: 'env:NAME' or 'file:PATH'")


class BeamConfig(Section):
  direct_running_mode: Literal['in_memory', 'multi_threading', 'multi_processing']
  direct_num_workers: Count = Field(ge=0, description='0: one per core')
  pickle_library: Literal['cloudpickle', 'dill']
  extra_args: List[str]


class CompactConfig(Section):
  prune_below: Optional[Number] = Field(ge=0, lt=1, description='a fusion weight; null is off')
  max_ndcg_loss: Number = Field(ge=0, lt=1, description='a loss of NDCG@10')


class FusionConfig(Section):
  # Checked against the registered methods when the pipeline is built
  # (recfusion/models/fusion/methods.py): that needs TensorFlow, which reading a config must not.
  method: str
  grid_step: Number = Field(gt=0, le=0.5, description='the step of the weight grid')
  compact: CompactConfig


class EvaluationConfig(Section):
  ndcg10_floor: Number = Field(ge=0, le=1, description='an NDCG@10')
  tolerance: Number = Field(ge=0, description='a shortfall of NDCG@10 vs production')
  min_eval_requests: Count = Field(ge=1)
  material_change: Number = Field(ge=0, lt=1, description='a change of NDCG@10')
  member_tolerance: Number = Field(ge=0, lt=1, description='a shortfall of NDCG@10')
  block_broken_members: Flag
  max_coverage_drop: Number = Field(ge=0, le=1, description='a share of the eval items; 1 turns '
                                    'the check off')


class PushConfig(Section):
  dir: Optional[Text] = Field(description='the model registry root')


RANKING_LOSSES = ('pointwise', 'pairwise', 'listwise')  # recfusion/models/losses.py


class TrainerConfig(Section):
  """One ranker's hyperparameters. Which of them a ranker needs is its own
  (rankers.Ranker.check_hparams, when the pipeline is built); the ones given are checked here."""
  loss: Optional[Literal[RANKING_LOSSES]] = None
  epochs: Optional[Count] = Field(None, ge=1)
  batch_size: Optional[Count] = Field(None, ge=1)
  learning_rate: Optional[Number] = Field(None, gt=0)
  embedding_dim: Optional[Count] = Field(None, ge=1)
  hidden_units: Optional[Count] = Field(None, ge=1)
  embedding_l2: Optional[Number] = Field(None, ge=0)
  dropout: Optional[Number] = Field(None, ge=0, lt=1)
  patience: Optional[Count] = Field(None, ge=0, description='epochs without a better '
                                    'validation loss before stopping')
  warm_start: Optional[Flag] = None
  seed: Optional[Count] = None
  num_trees: Optional[Count] = Field(None, ge=1)
  max_depth: Optional[Count] = Field(None, ge=1)
  shrinkage: Optional[Number] = Field(None, gt=0, le=1)
  min_examples: Optional[Count] = Field(None, ge=1)


def _quantity_shaped(value: Any) -> Any:
  if isinstance(value, bool) or not isinstance(value, (int, float, str)):
    raise ValueError(f'must be a Kubernetes quantity (for example 8Gi, 512Mi, 500m, 2), '
                     f'got {value!r}')
  return value


# Kubernetes quantities ('8Gi', '500m', 2) are parsed by the Kubernetes client when the pipeline
# is compiled (pipeline/kubeflow_runner.py): importing it here would add seconds to every command.
Quantity = Annotated[Any, pydantic.AfterValidator(_quantity_shaped)]


class ResourcesConfig(Section):
  cpu: Quantity
  memory: Quantity


class TrainerResourcesConfig(ResourcesConfig):
  gpu: Count = Field(ge=0)
  gpu_resource: str
  node_selector: Dict[str, str]
  tolerations: List[Dict[str, Any]]


class SecretReference(Section):
  name: str
  key: str


class KubeflowConfig(Section):
  resources: ResourcesConfig
  trainer_resources: TrainerResourcesConfig
  retries: Count = Field(ge=0)
  registry_pvc: str
  registry_mount: str
  beam_args: List[str]
  user_id_key_secret: Optional[SecretReference] = Field(
      description="the Kubernetes Secret of the pseudonymization key: {name: SECRET, key: KEY}")


class Document(Section):
  """The whole config as validated; `Config` is what the pipeline reads."""
  pipeline: PipelineConfig
  generate: ShopConfig
  data: DataConfig
  beam: BeamConfig
  trainers: Dict[str, TrainerConfig]
  fusion: FusionConfig
  evaluation: EvaluationConfig
  push: PushConfig
  kubeflow: KubeflowConfig


@dataclasses.dataclass(frozen=True)
class Config:
  pipeline: PipelineConfig
  generate: ShopConfig
  data: DataConfig
  beam: BeamConfig
  trainers: Dict[str, Dict[str, Any]]  # ranker name -> the hyperparameters it was given
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


def _field(model: Any, part: Any) -> Tuple[Any, Optional[pydantic.fields.FieldInfo]]:
  """The type one step down `loc` from `model`, and its field when `part` names one."""
  while typing.get_origin(model) in (typing.Union, Annotated):
    model = next(a for a in typing.get_args(model) if a is not type(None))
  if isinstance(model, type) and issubclass(model, BaseModel):
    field = model.model_fields.get(part)
    return (field.annotation, field) if field else (None, None)
  if typing.get_origin(model) in (dict, list):
    return typing.get_args(model)[-1], None
  return None, None


def _description(root: Any, loc: Sequence[Any]) -> Optional[str]:
  model, field = root, None
  for part in loc:
    model, field = _field(model, part)
  return field.description if field else None


def _problem(error: Dict[str, Any], path: Tuple[Any, ...], root: Any) -> str:
  loc = path + tuple(part for part in error['loc'] if isinstance(part, (str, int)))
  key = '.'.join(str(part) for part in loc)
  kind, value = error['type'], error.get('input')
  if kind == 'extra_forbidden':
    return f'unknown config key {key!r}'
  if kind == 'value_error':
    return f'{key}: {error["ctx"]["error"]}'
  description = _description(root, loc[len(path):])
  meaning = f' ({description})' if description else ''
  if kind == 'missing':
    return f'config key {key!r}{meaning} is missing'
  if kind == 'model_type':
    return f'config key {key!r}{meaning} must be a mapping, got {value!r}'
  message = error['msg'][0].lower() + error['msg'][1:]
  return f'config key {key!r}{meaning}: {message}, got {value!r}'


def explain(error: pydantic.ValidationError, path: Tuple[str, ...] = ()) -> ConfigError:
  """One ConfigError naming every bad key of a validation `error` under `path`."""
  root = error.title and globals().get(error.title)
  # Union members each report the same key; say each problem once.
  problems = list(dict.fromkeys(_problem(e, path, root) for e in error.errors()))
  return ConfigError('; '.join(problems))


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


def default_dict() -> Dict[str, Any]:
  text = importlib.resources.files('recfusion').joinpath('defaults.yaml').read_text()
  return yaml.safe_load(text)


# Mappings whose keys are the user's own names: an override replaces them whole.
_USER_NAMED = ('spans', 'node_selector')


def _merge(base: Dict[str, Any], override: Dict[str, Any], where: str) -> None:
  for key, value in override.items():
    path = f'{where}.{key}' if where else key
    if key not in base:
      known = ', '.join(sorted(base)) or '(none)'
      raise ConfigError(f'unknown config key {path!r}; known keys here: {known}')
    if isinstance(base[key], dict) and base[key] and key not in _USER_NAMED:
      if not isinstance(value, dict):
        raise ConfigError(f'config key {path!r} must be a mapping, got {value!r}')
      _merge(base[key], value, path)
    else:
      base[key] = value


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


def _build(resolved: Dict[str, Any]) -> Config:
  try:
    document = Document(**resolved)
  except pydantic.ValidationError as e:
    raise explain(e) from None
  # Only what was given: each ranker has its own hyperparameters.
  raw = document.model_dump(exclude_unset=True)
  return Config(
      pipeline=document.pipeline, generate=document.generate, data=document.data,
      beam=document.beam, trainers=copy.deepcopy(raw['trainers']), fusion=document.fusion,
      evaluation=document.evaluation, push=document.push,
      kubeflow=copy.deepcopy(raw['kubeflow']), raw=raw)
