"""TFX's self-packaging for Beam workers: skipped for the DirectRunner, replaced by the
pipeline image on the cluster, untouched where the user named a dependency or another runner."""
import pytest
from tfx.dsl.components.base import base_beam_executor
from tfx.utils import dependency_utils

from recfusion.pipeline import beam_workers

DIRECT = ['--direct_running_mode=in_memory', '--direct_num_workers=1']


@pytest.mark.parametrize('args, named', [
    (DIRECT, False),
    ([*DIRECT, '--setup_file=./setup.py'], True),
    (['--extra_package', 'dist/recfusion.tar.gz'], True),
    (['--sdk_container_image=registry.example/recfusion:1'], True),
    (['--runner=FlinkRunner', '--flink_master=localhost:8081'], False),
])
def test_a_dependency_is_named_by_any_of_beams_dependency_options(args, named):
  assert beam_workers.names_dependency(args) is named


@pytest.mark.parametrize('args, direct', [
    ([], True), (DIRECT, True), (['--runner=DirectRunner'], True),
    (['--runner=FlinkRunner'], False), (['--runner=DataflowRunner', '--runner=direct'], True),
])
def test_beam_runs_direct_without_a_runner_or_with_the_direct_one(args, direct):
  assert beam_workers.runs_direct(args) is direct


def test_the_cluster_names_the_pipeline_image_for_the_direct_runner_only():
  assert beam_workers.on_cluster(DIRECT, 'registry.example/recfusion:1') == [
      *DIRECT, '--sdk_container_image=registry.example/recfusion:1']
  own = [*DIRECT, '--setup_file=./setup.py']
  assert beam_workers.on_cluster(own, 'registry.example/recfusion:1') == own
  # A remote runner's workers need Beam's SDK harness, which the pipeline image lacks.
  remote = ['--runner=FlinkRunner', '--flink_master=localhost:8081']
  assert beam_workers.on_cluster(remote, 'registry.example/recfusion:1') == remote


class _RunFailed(Exception):
  pass


@pytest.fixture
def packaging_spy(monkeypatch):
  """TFX's packaging, made to record its calls instead of copying TFX (42 MB each)."""
  calls = []

  def build():
    calls.append(1)
    return '/tmp/tfx_ephemeral.tar.gz'

  monkeypatch.setattr(dependency_utils, 'build_ephemeral_package', build)
  return calls


class _BeamStep(base_beam_executor.BaseBeamExecutor):

  def Do(self, input_dict, output_dict, exec_properties):
    raise AssertionError('not run: only the executor\'s construction is under test')


def _executor_args(args):
  """The Beam args a TFX Beam executor ends up with (it settles them when constructed)."""
  context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(args))
  return _BeamStep(context)._beam_pipeline_args


def test_a_direct_runner_step_is_not_packaged_while_the_dag_runs(packaging_spy):
  with beam_workers.tfx_packaging_skipped():
    args = _executor_args(DIRECT)
  assert packaging_spy == []
  assert not any(a.startswith('--extra_package') for a in args)
  # Outside a run TFX is TFX again.
  assert '--extra_package=/tmp/tfx_ephemeral.tar.gz' in _executor_args(DIRECT)
  assert packaging_spy == [1]


def test_another_runner_keeps_tfxs_packaging(packaging_spy):
  with beam_workers.tfx_packaging_skipped():
    args = _executor_args(['--runner=FlinkRunner'])
  assert packaging_spy == [1]
  assert '--extra_package=/tmp/tfx_ephemeral.tar.gz' in args


def test_packaging_is_restored_when_the_run_fails(packaging_spy):
  original = dependency_utils.make_beam_dependency_flags
  with pytest.raises(_RunFailed):
    with beam_workers.tfx_packaging_skipped():
      raise _RunFailed()
  assert dependency_utils.make_beam_dependency_flags is original
