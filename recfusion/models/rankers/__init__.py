"""The ranker registry: which models the pipeline trains, each as one stock TFX Trainer.

A ranker is a function that builds a tf_keras model from the transformed features (see
training.py) plus its name. Every module of this package that defines one registers it when
imported; `get` and `names` import them all first. A ranker from elsewhere registers itself
with `register` (its module is recorded, so a Trainer in another process imports it too).
Which registered rankers a run trains is decided by the config: one `trainers.<name>` entry each.
"""
import dataclasses
import importlib
import pkgutil
from typing import Any, Callable, Dict, Tuple

from recfusion.config import ConfigError

# The custom_config keys by which every Trainer's run_fn finds its ranker.
RANKER_KEY = 'ranker'
MODULE_KEY = 'ranker_module'
# One run_fn for every ranker: the Trainer passes the ranker's name in custom_config.
RUN_FN = f'{__name__}.run_fn'


@dataclasses.dataclass(frozen=True)
class Ranker:
  name: str
  # (inputs: {feature: keras.Input}, vocabularies: training.Vocabularies,
  #  hparams: training.HParams) -> keras.Model returning one score per example
  build_model: Callable[..., Any]
  module: str  # importable module that registers this ranker

  def custom_config(self, hparams: Dict[str, Any]) -> Dict[str, Any]:
    """The Trainer's custom_config: the hyperparameters and where to find this ranker."""
    return {**hparams, RANKER_KEY: self.name, MODULE_KEY: self.module}


_REGISTRY: Dict[str, Ranker] = {}
_discovered = False


def register(name: str, build_model: Callable[..., Any], module: str) -> Ranker:
  ranker = Ranker(name, build_model, module)
  existing = _REGISTRY.get(name)
  if existing is not None and existing.module != module:
    raise ValueError(f'ranker {name!r} is already registered by {existing.module}')
  _REGISTRY[name] = ranker
  return ranker


def _discover() -> None:
  global _discovered
  if _discovered:
    return
  for module in pkgutil.iter_modules(__path__):
    if not module.name.endswith('_test'):
      importlib.import_module(f'{__name__}.{module.name}')
  _discovered = True


def names() -> Tuple[str, ...]:
  _discover()
  return tuple(_REGISTRY)


def get(name: str) -> Ranker:
  _discover()
  if name not in _REGISTRY:
    raise ConfigError(f'trainers.{name}: no ranker named {name!r}; registered rankers: '
                      f'{", ".join(sorted(_REGISTRY))}')
  return _REGISTRY[name]


def run_fn(fn_args) -> None:
  """The run_fn of every ranker's Trainer (TFX imports it by path, never as a module_file)."""
  from recfusion.models import training  # TensorFlow: only in the Trainer's process
  config = fn_args.custom_config or {}
  if config.get(MODULE_KEY):
    importlib.import_module(config[MODULE_KEY])
  ranker = get(config[RANKER_KEY])
  training.train_and_export(fn_args, ranker.name, ranker.build_model)
