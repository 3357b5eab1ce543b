"""The ranker registry: which models the pipeline trains, each as one stock TFX Trainer.

A ranker is a function that builds a tf_keras model from the transformed features (see
training.py) plus its name. Every module of this package that defines one as `RANKER` is found
by `get` and `names`. A ranker from elsewhere registers itself with `register` (its module is
recorded, so a Trainer in another process imports it too). Which registered rankers a run
trains is decided by the config: one `trainers.<name>` entry each.

Registration reads `RANKER` from the modules rather than relying on import side effects: TFX
reloads the module of a `run_fn` before every Trainer run, and a registry filled by imports
would then stay empty (modules already imported are not executed again).
"""
import dataclasses
import importlib
import pkgutil
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from recfusion.config import ConfigError

# The custom_config keys by which every Trainer's run_fn finds its ranker.
RANKER_KEY = 'ranker'
MODULE_KEY = 'ranker_module'
# One run_fn for every ranker (in a module of its own, which TFX may reload at will): the
# Trainer passes the ranker's name in custom_config.
RUN_FN = 'recfusion.models.trainer_run.run_fn'


@dataclasses.dataclass(frozen=True)
class Ranker:
  name: str
  # (inputs: {feature: keras.Input}, vocabularies: training.Vocabularies,
  #  hparams: training.HParams) -> keras.Model returning one score per example
  build_model: Callable[..., Any]
  module: str  # importable module that registers this ranker
  # Features of which at least one must vary in the data for this ranker to learn anything.
  needs: Tuple[str, ...] = ()
  # A ranker that is not a keras model trained by gradient descent (a forest) brings its
  # own run_fn body, (fn_args, ranker name) -> None, and its hyperparameters' parser
  # ({key: value} -> hyperparameters, ValueError naming a missing key); None: the shared
  # keras training of training.py and its HParams.
  train: Optional[Callable[..., None]] = None
  parse_hparams: Optional[Callable[[Mapping[str, Any]], Any]] = None
  # Whether it can continue from the production model's weights (trees cannot).
  warm_starts: bool = True
  # Whether its Trainer wants a GPU on a cluster (a TF-DF forest trains on CPU only).
  uses_gpu: bool = True

  def custom_config(self, hparams: Dict[str, Any]) -> Dict[str, Any]:
    """The Trainer's custom_config: the hyperparameters and where to find this ranker."""
    return {**hparams, RANKER_KEY: self.name, MODULE_KEY: self.module}

  def check_hparams(self, hparams: Mapping[str, Any]) -> None:
    """ConfigError naming `trainers.<name>` when its section lacks a hyperparameter."""
    parse = self.parse_hparams
    if parse is None:
      from recfusion.models import training  # TensorFlow: only when a pipeline is built
      parse = training.HParams.from_config
    try:
      parse(hparams)
    except (ValueError, TypeError) as error:
      raise ConfigError(f'trainers.{self.name}: {error}') from None


_REGISTRY: Dict[str, Ranker] = {}
_discovered = False


def register(ranker: Ranker) -> Ranker:
  existing = _REGISTRY.get(ranker.name)
  if existing is not None and existing.module != ranker.module:
    raise ValueError(f'ranker {ranker.name!r} is already registered by {existing.module}')
  _REGISTRY[ranker.name] = ranker
  return ranker


def register_module(module_name: str) -> None:
  """Imports a module and registers the `RANKER` it defines, if any."""
  ranker = getattr(importlib.import_module(module_name), 'RANKER', None)
  # Not isinstance: after a reload of this module, existing rankers are of the old class.
  if ranker is not None and hasattr(ranker, 'build_model'):
    register(ranker)


def _discover() -> None:
  global _discovered
  if _discovered:
    return
  for module in pkgutil.iter_modules(__path__):
    if not module.name.endswith('_test'):
      register_module(f'{__name__}.{module.name}')
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
