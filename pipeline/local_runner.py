"""Runs the DAG on this machine: LocalDagRunner, ML Metadata in SQLite, Beam DirectRunner.

A run home (default ./recfusion_home) holds everything a run writes:
  pipeline_root/          TFX artifacts of every component execution
  metadata.sqlite         ML Metadata of all runs (caching reads it too)
  data/generated-<key>/   the simulator's data when no --data is given
  runs/<run_id>/          config.yaml (resolved config), run.log (full log), summary.json,
                          report.json (recfusion/report/data.py)
  registry/<pipeline>/    pushed models, one folder per version, and index.json
                          (push.dir in the config moves the registry elsewhere)
"""
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

from absl import logging as absl_logging

from recfusion import registry
from recfusion.config import Config
from recfusion.data import contract
from recfusion.fingerprints import code_fingerprint, input_fingerprint, inputs_digest
from recfusion.home import RunHome
from recfusion.pipeline import memory



@dataclasses.dataclass(frozen=True)
class ProgressEvent:
  """One step of a run, for a progress display."""
  component: str
  event: str  # running | epoch | finished | failed
  index: int  # 1-based position of the component in this run
  total: int  # components in the run
  seconds: Optional[float] = None  # finished: the component's time
  detail: str = ''  # epoch: 'epoch 2/3'


ProgressCallback = Callable[[ProgressEvent], None]
# training.py's per-epoch log line: '<model> epoch <n>/<epochs>: <metrics>'.
_EPOCH_LINE = re.compile(r'^\S+ epoch (\d+)/(\d+): ')


def new_run_id() -> str:
  now = datetime.datetime.now(datetime.timezone.utc)
  return now.strftime('%Y%m%dT%H%M%S') + f'-{os.getpid() % 10000:04d}'


def beam_args(config: Config) -> List[str]:
  return [f'--pickle_library={config.beam.pickle_library}',
          f'--direct_running_mode={config.beam.direct_running_mode}',
          f'--direct_num_workers={config.beam.direct_num_workers}',
          *config.beam.extra_args]


def unchanged_since(config: Config, home: RunHome, data_dir: str):
  """The registry's latest version when it was trained from exactly these data, config and
  code (a run would retrain the same models for nothing), else None."""
  from recfusion import keys, registry
  latest = registry.latest(home.registry_dir(config))
  if latest is None or (latest.extra.get(keys.INPUTS_DIGEST)
                        != inputs_digest(data_dir, config.to_yaml())):
    return None
  return latest


def generated_data(config: Config, home: RunHome,
                   report: Callable[[str], None] = lambda _: None) -> str:
  """The simulated shop of `config.generate` under the home, generated once per settings.

  Written to a temporary folder and renamed into place, so an interrupted generation is
  never mistaken for data.
  """
  from recfusion.data import simulator
  settings = config.generate.model_dump()
  key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
  data_dir = home.generated_data_dir(key)
  if not os.path.isdir(os.path.join(data_dir, 'events')):
    partial = data_dir + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    counts = simulator.generate(partial, config.generate)
    os.replace(partial, data_dir)
    report(f'generated {counts["requests"]} requests ({counts["event_rows"]} event rows, '
           f'{counts["spans"]} spans) into {data_dir}')
  return data_dir


def registry_state(registry_dir: str) -> str:
  """Changes with every push, so BaselineLookup's cached result is reused only while the
  registry is unchanged."""
  index = os.path.join(registry_dir, registry.INDEX_FILE)
  if not os.path.exists(index):
    return 'empty'
  with open(index, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()[:16]


class _ComponentProgress(logging.Handler):
  """Turns LocalDagRunner's 'Component X is running/finished.' log lines, and the Trainers'
  epoch lines, into progress events."""

  def __init__(self, callback: ProgressCallback, total: int):
    super().__init__(level=logging.INFO)
    self._callback = callback
    self._total = total
    self._started: Dict[str, float] = {}
    self._index: Dict[str, int] = {}
    self.durations: Dict[str, float] = {}
    self.current: Optional[str] = None

  def _event(self, name: str, event: str, **fields) -> None:
    self._callback(ProgressEvent(name, event, self._index[name], self._total, **fields))

  def emit(self, record: logging.LogRecord) -> None:
    message = record.getMessage()
    epoch = _EPOCH_LINE.match(message)
    if epoch and self.current is not None:
      self._event(self.current, 'epoch', detail=f'epoch {epoch.group(1)}/{epoch.group(2)}')
      return
    if not message.startswith('Component ') or not message.endswith(('running.', 'finished.')):
      return
    name = message.split(' ')[1]
    if message.endswith('is running.'):
      self.finish_current()
      self._started[name] = time.monotonic()
      self._index[name] = len(self._index) + 1
      self.current = name
      self._event(name, 'running')
    elif name == self.current:
      self.finish_current()

  def finish_current(self) -> None:
    # Components run one after another, so a start also ends the previous one: some
    # executors lower absl's verbosity and their 'finished' line never arrives.
    if self.current is None:
      return
    name, self.current = self.current, None
    self.durations[name] = time.monotonic() - self._started[name]
    self._event(name, 'finished', seconds=self.durations[name])

  def fail_current(self) -> Optional[str]:
    """The component that was running when the run failed (reported as failed), or None."""
    name, self.current = self.current, None
    if name is not None:
      self._event(name, 'failed')
    return name


def releasing_memory(progress: ProgressCallback) -> ProgressCallback:
  """`progress`, after handing back what the previous components freed whenever one starts
  (pipeline/memory.py): each step's peak then starts from what is really still held."""
  def callback(event: ProgressEvent) -> None:
    if event.event == 'running':
      memory.release_freed()
    progress(event)
  return callback


@dataclasses.dataclass
class LocalRun:
  run_id: str
  run_dir: str
  durations: Dict[str, float]
  failed_component: Optional[str]


class SecretScrubbingFormatter(logging.Formatter):
  """Writes every record with the config's secret values replaced: TFX logs the Beam
  arguments, credentials included, in every component's startup lines."""

  def __init__(self, fmt: str, secrets: Sequence[str]):
    super().__init__(fmt)
    self._secrets = [s for s in secrets if s]

  def format(self, record: logging.LogRecord) -> str:
    text = super().format(record)
    for secret in self._secrets:
      text = text.replace(secret, '***')
    return text


def run_pipeline(config: Config, home: RunHome, data_dir: str,
                 progress: Optional[ProgressCallback] = None,
                 enable_cache: bool = True, run_id: Optional[str] = None) -> LocalRun:
  """Builds the DAG with the pipeline factory and runs it; raises what a component raised,
  or HomeBusyError at once when another run holds the home."""
  run_id = run_id or new_run_id()
  with home.exclusive_run(run_id):
    return _run_holding_home(config, home, data_dir, progress, enable_cache, run_id)


def _run_holding_home(config: Config, home: RunHome, data_dir: str,
                      progress: Optional[ProgressCallback], enable_cache: bool,
                      run_id: str) -> LocalRun:
  from ml_metadata.proto import metadata_store_pb2  # noqa: F401 (TFX import is slow: lazily)
  from tfx.dsl.compiler import compiler, constants
  from tfx.orchestration import metadata
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner
  from tfx.orchestration.portable import runtime_parameter_utils

  from recfusion.pipeline import beam_swaps, beam_workers
  from recfusion.pipeline.factory import create_pipeline

  run_dir = home.run_dir(run_id)
  os.makedirs(run_dir, exist_ok=True)
  os.makedirs(home.pipeline_root, exist_ok=True)
  with open(os.path.join(run_dir, 'config.yaml'), 'w') as f:
    f.write(f'# resolved config of run {run_id}; data: {data_dir}\n')
    f.write(config.to_yaml())

  pipeline = create_pipeline(
      config, data_dir=data_dir if contract.is_uri(data_dir) else os.path.abspath(data_dir),
      pipeline_root=os.path.abspath(
          home.pipeline_root),
      metadata_connection_config=metadata.sqlite_metadata_connection_config(
          os.path.abspath(home.metadata_path)),
      beam_pipeline_args=beam_args(config), enable_cache=enable_cache,
      input_fingerprint=f'{input_fingerprint(data_dir)}-code-{code_fingerprint()}',
      registry_dir=home.registry_dir(config),
      registry_state=registry_state(home.registry_dir(config)),
      inputs_digest=inputs_digest(data_dir, config.to_yaml()))
  ir = compiler.Compiler().compile(pipeline)
  runtime_parameter_utils.substitute_runtime_parameter(
      ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})

  handler = _ComponentProgress(releasing_memory(progress or (lambda _: None)),
                               len(pipeline.components))
  log_file = logging.FileHandler(os.path.join(run_dir, 'run.log'))
  log_file.setLevel(logging.INFO)
  log_file.setFormatter(SecretScrubbingFormatter(
      '%(asctime)s %(levelname)s %(name)s: %(message)s', secrets=config.secrets()))
  root = logging.getLogger()
  absl_logger = absl_logging.get_absl_logger()
  # TensorFlow's logger has a terminal handler of its own, so every logger is looked at.
  loggers = [root] + [logger for logger in logging.root.manager.loggerDict.values()
                      if isinstance(logger, logging.Logger)]
  terminal_handlers = [h for logger in loggers for h in logger.handlers
                       if isinstance(h, logging.StreamHandler)
                       and not isinstance(h, logging.FileHandler)]
  saved = (root.level, absl_logging.get_verbosity(), [h.level for h in terminal_handlers])
  # Everything goes to run.log; the terminal keeps errors only, plus our progress lines: the
  # stack warns by the dozen about things a user cannot act on (table init, snappy, ...).
  for terminal in terminal_handlers:
    terminal.setLevel(max(terminal.level, logging.ERROR))
  root.setLevel(logging.INFO)
  # Through absl's flag, not the logger: TensorFlow saves and restores the flag around each
  # SavedModel export, which would otherwise silence the runner's progress lines after it.
  absl_logging.set_verbosity(absl_logging.INFO)
  root.addHandler(log_file)
  absl_logger.addHandler(handler)
  failed = None
  try:
    with beam_workers.tfx_packaging_skipped(), beam_swaps.swapped_in(), \
        memory.preexisting_kept_out_of_collections():
      LocalDagRunner().run_with_ir(ir)
    handler.finish_current()
  except BaseException:
    failed = handler.fail_current()
    raise
  finally:
    absl_logger.removeHandler(handler)
    root.removeHandler(log_file)
    log_file.close()
    root.setLevel(saved[0])
    absl_logging.set_verbosity(saved[1])
    for terminal, level in zip(terminal_handlers, saved[2]):
      terminal.setLevel(level)
  return LocalRun(run_id, run_dir, handler.durations, failed)
