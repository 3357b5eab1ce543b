"""The slow reliability suite (`make test-faults`): real `recfusion run` processes killed with
SIGKILL as their first component starts, over and over in one home, and a second run started
beside a running one.

After every kill: the registry index and version folders agree (or the next push repairs them),
the killed run is listed as abandoned, and the home is free for the next run. At the end one
run completes and exactly one version is in the registry: nothing lost, nothing pushed twice.
The faster cases (20 concurrent pushes, a crash between rename and index, a corrupt index, the
home lock) run in `make test` (tests/test_registry.py, recfusion/home_test.py).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recfusion import registry

pytestmark = [pytest.mark.pipeline, pytest.mark.faults]

RECFUSION = os.path.join(os.path.dirname(sys.executable), 'recfusion')
COMPONENTS = ['BaselineLookup', 'ImportSchemaGen', 'LogJoinExampleGen', 'StatisticsGen',
              'ExampleValidator', 'Transform', 'Trainer.text', 'Trainer.dcn',
              'Trainer.sequence', 'Trainer.gbt', 'Fusion', 'Evaluator', 'RegistryPusher',
              'RunReport']
SMALL_RUN = ['--set', 'data.window_spans=4', '--set', 'trainers.text.epochs=1',
             '--set', 'trainers.dcn.epochs=1', '--set', 'trainers.sequence.epochs=1',
             '--set', 'trainers.gbt.num_trees=20', '--set', 'fusion.grid_step=0.25',
             '--set', 'evaluation.ndcg10_floor=0.0',
             # The gate on a shop this small would (rightly) refuse: these tests need a push.
             '--set', 'evaluation.min_eval_requests=20',
             '--set', 'evaluation.block_broken_members=false',
             '--set', 'evaluation.member_tolerance=0.5']
START_TIMEOUT_S = 600
MAX_RUNS = 30


def _executions(home):
  """(component, execution id) of every execution that has started in this home (TFX makes a
  folder per execution as it starts the executor)."""
  found = set()
  for component in COMPONENTS:
    folder = os.path.join(home, 'pipeline_root', component, '.system', 'executor_execution')
    if os.path.isdir(folder):
      found |= {(component, int(name)) for name in os.listdir(folder) if name.isdigit()}
  return found


def _start(home, data_dir, log_path):
  log = open(log_path, 'w')
  process = subprocess.Popen([RECFUSION, 'run', '--home', home, '--data', data_dir, *SMALL_RUN],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
  log.close()
  return process


def _registry_state(home):
  root = os.path.join(home, 'registry', 'recfusion')
  if not os.path.isdir(root):
    return [], []
  folders = sorted(int(n) for n in os.listdir(root) if n.isdigit())
  index_path = os.path.join(root, registry.INDEX_FILE)
  indexed = []
  if os.path.exists(index_path):
    with open(index_path) as f:
      indexed = [v['version'] for v in json.load(f)['versions']]
  return folders, indexed


def _run_statuses(home):
  listed = subprocess.run([RECFUSION, 'runs', '--home', home, '--json', '--limit', '50'],
                          capture_output=True, text=True, check=True)
  return [json.loads(line)['status'] for line in listed.stdout.splitlines()]


def test_a_run_killed_at_each_component_loses_nothing_and_pushes_once(small_shop_dir,
                                                                      tmp_path):
  """Each run is killed as soon as a component not killed before starts; what the killed runs
  finished is cached, so every next run gets one component further, until one gets through."""
  home = str(tmp_path / 'home')
  killed_at = []
  for attempt in range(MAX_RUNS):
    before = _executions(home)
    log_path = str(tmp_path / f'run-{attempt}.log')
    run = _start(home, small_shop_dir, log_path)
    try:
      deadline = time.monotonic() + START_TIMEOUT_S
      while run.poll() is None and not ({c for c, _ in _executions(home) - before} -
                                        set(killed_at)):
        assert time.monotonic() < deadline, 'no component started'
        time.sleep(0.05)
      if attempt == 0 and run.poll() is None:
        # A second run beside a live one is refused at once, naming the holder.
        second = subprocess.run([RECFUSION, 'run', '--home', home, '--data', small_shop_dir,
                                 *SMALL_RUN], capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stdout + second.stderr
        assert f'(pid {run.pid})' in second.stdout + second.stderr
      if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
      run.wait()
    finally:
      if run.poll() is None:  # a failed assertion above: leave no run behind
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    if run.returncode != -signal.SIGKILL:
      break  # got through (or failed) before it could be killed
    started = [pair for pair in _executions(home) - before if pair[0] not in killed_at]
    killed_at.append(max(started, key=lambda pair: pair[1])[0])
    folders, indexed = _registry_state(home)
    # A version is never indexed without its folder; a folder without an index entry (killed
    # between rename and index write) is what the next push repairs.
    assert set(indexed) <= set(folders), (killed_at, folders, indexed)
    assert len(indexed) <= 1, (killed_at, indexed)
    statuses = _run_statuses(home)
    assert 'running' not in statuses, (killed_at, statuses)
    assert statuses.count('abandoned') == len(killed_at), (killed_at, statuses)
  else:
    pytest.fail(f'no run got through in {MAX_RUNS} tries; killed at {killed_at}')
  with open(log_path) as f:
    output = f.read()
  assert run.returncode == 0, output[-3000:]
  # Every component that takes more than an instant was killed at least once.
  assert {'LogJoinExampleGen', 'StatisticsGen', 'Transform', 'Trainer.text', 'Trainer.dcn',
          'Trainer.sequence', 'Trainer.gbt', 'Fusion', 'Evaluator'} <= set(killed_at), killed_at

  # One version, indexed, no partial copies; a run after it has nothing new to do.
  folders, indexed = _registry_state(home)
  assert folders == indexed == [1], (killed_at, folders, indexed)
  root = os.path.join(home, 'registry', 'recfusion')
  assert not [n for n in os.listdir(root) if n.startswith('.incoming')]
  assert os.path.exists(os.path.join(root, '1', 'saved_model.pb'))
  again = subprocess.run([RECFUSION, 'run', '--home', home, '--data', small_shop_dir,
                          *SMALL_RUN], capture_output=True, text=True, timeout=600)
  assert again.returncode == 0 and 'nothing new since registry version 1' in again.stdout, (
      again.stdout + again.stderr)
