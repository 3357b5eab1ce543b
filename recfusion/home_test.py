"""Unit tests of the run home's one-run-at-a-time lock."""
import os
import subprocess
import sys

import pytest

from recfusion.home import HomeBusyError, RunHome


def test_a_second_run_on_the_same_home_is_refused_naming_the_holder(tmp_path):
  home = RunHome(str(tmp_path / 'home'))
  with home.exclusive_run('run-a'):
    with pytest.raises(HomeBusyError, match=rf'in use by run run-a \(pid {os.getpid()}\)'):
      with home.exclusive_run('run-b'):
        pass
  # Released at the end: the next run gets the home.
  with home.exclusive_run('run-c'):
    pass
  assert not os.path.exists(os.path.join(home.root, '.run.holder.json'))


def test_the_lock_holds_across_processes_and_dies_with_its_holder(tmp_path):
  home = RunHome(str(tmp_path / 'home'))
  holder = subprocess.Popen(
      [sys.executable, '-c',
       'import sys, time; from recfusion.home import RunHome\n'
       f'with RunHome({home.root!r}).exclusive_run("run-x"):\n'
       '  print("held", flush=True); time.sleep(60)'],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(HomeBusyError, match='in use by run run-x'):
      with home.exclusive_run('run-y'):
        pass
  finally:
    holder.kill()  # as kill -9 would: no cleanup runs in the holder
    holder.wait()
  with home.exclusive_run('run-z'):  # the operating system released its lock
    pass


def test_active_run_id_is_the_holder_or_none(tmp_path):
  home = RunHome(str(tmp_path / 'home'))
  assert home.active_run_id() is None
  with home.exclusive_run('run-a'):
    assert home.active_run_id() == 'run-a'
  assert home.active_run_id() is None
