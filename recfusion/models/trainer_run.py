"""The run_fn of every ranker's Trainer (TFX imports it by path, never as a module_file).

Kept apart from the registry because TFX reloads the module of a run_fn before each run: this
one holds no state, so reloading it changes nothing.
"""
from recfusion.models import rankers


def run_fn(fn_args) -> None:
  from recfusion.models import training  # TensorFlow: only in the Trainer's process
  config = fn_args.custom_config or {}
  if config.get(rankers.MODULE_KEY):
    rankers.register_module(config[rankers.MODULE_KEY])
  ranker = rankers.get(config[rankers.RANKER_KEY])
  if ranker.train is not None:
    ranker.train(fn_args, ranker.name)
  else:
    training.train_and_export(fn_args, ranker.name, ranker.build_model, ranker.needs)
