"""The compiled Kubeflow spec executes: every task's own container command, run as a
subprocess with the ExecutorInput KFP would give it, on small data, through to a pushed model."""
import json
import os

import pytest
from click.testing import CliRunner

from recfusion import cli, registry
from recfusion.config import load_config
from recfusion.pipeline import kubeflow_local, kubeflow_runner
from recfusion.pipeline.factory import curated_schema_path

pytestmark = pytest.mark.pipeline


def test_topological_order_respects_dependencies():
  tasks = {'c': {'dependentTasks': ['a', 'b']}, 'a': {}, 'b': {'dependentTasks': ['a']}}
  assert kubeflow_local.topological_order(tasks) == ['a', 'b', 'c']
  with pytest.raises(ValueError, match='cycle'):
    kubeflow_local.topological_order({'a': {'dependentTasks': ['b']},
                                      'b': {'dependentTasks': ['a']}})


# A task's container: reports one output artifact whose `changed` is its `changed` parameter.
_REPORTER = """
import json, sys
task = json.loads(sys.argv[1])
changed = task['inputs']['parameterValues'].get('changed', 1)
with open(task['outputs']['outputFile'], 'w') as f:
  json.dump({'artifacts': {'result': {'artifacts': [{'metadata': {'changed': changed}}]}}}, f)
"""
_CONDITION = "(inputs.artifacts['gate'].artifacts[0].metadata['changed'] == 1.0)"


def _conditional_job(changed: int):
  """check -> train (runs when check's artifact says changed == 1) -> push (no condition of
  its own), the shape TFX's Cond compiles to."""
  def component(name):
    return {'executorLabel': f'{name}_executor', 'outputDefinitions': {'artifacts': {
        'result': {'artifactType': {'schemaTitle': 'system.Artifact'}}}}}
  container = {'container': {'image': 'test', 'command': ['python', '-c', _REPORTER],
                             'args': ['{{$}}']}}
  return {'pipelineSpec': {
      'pipelineInfo': {'name': 'conditional'},
      'components': {name: component(name) for name in ('check', 'train', 'push')},
      'deploymentSpec': {'executors': {f'{n}_executor': container
                                       for n in ('check', 'train', 'push')}},
      'root': {'dag': {'tasks': {
          'check': {'componentRef': {'name': 'check'}, 'inputs': {'parameters': {
              'changed': {'runtimeValue': {'constant': changed}}}}},
          'train': {'componentRef': {'name': 'train'}, 'dependentTasks': ['check'],
                    'inputs': {'artifacts': {'gate': {'taskOutputArtifact': {
                        'producerTask': 'check', 'outputArtifactKey': 'result'}}}},
                    'triggerPolicy': {'condition': _CONDITION}},
          'push': {'componentRef': {'name': 'push'}, 'dependentTasks': ['train'],
                   'inputs': {'artifacts': {'model': {'taskOutputArtifact': {
                       'producerTask': 'train', 'outputArtifactKey': 'result'}}}}}}}}}}


def test_a_false_condition_skips_the_task_and_everything_downstream(tmp_path):
  log = []
  produced = kubeflow_local.run(_conditional_job(changed=0), str(tmp_path), log=log.append)
  assert set(produced) == {'check'}
  # An int property, compared with TFX's 1.0: false because 0, not because of the types.
  assert produced['check']['result'][0]['metadata'] == {'changed': 0}
  assert log[1:] == [f'train: skipped (condition false: {_CONDITION})',
                     'push: skipped (upstream train skipped)']


def test_a_true_condition_runs_the_task(tmp_path):
  produced = kubeflow_local.run(_conditional_job(changed=1), str(tmp_path))
  assert set(produced) == {'check', 'train', 'push'}


def test_compiled_spec_runs_task_by_task_to_a_pushed_model(small_shop_dir, tmp_path,
                                                           mlmd_grpc_service):
  # Compiled with the cluster's path and the config's epochs; this run's own data folder,
  # window and epochs come as runtime parameters, as `recfusion submit --param` gives them.
  config = load_config(overrides=[
      'data.dir=gs://not-read/by-this-run', f'push.dir={tmp_path / "registry"}',
      'trainers.gbt.num_trees=30',
      'evaluation.ndcg10_floor=0.0', 'fusion.grid_step=0.25',
      # The gate on a shop this small would (rightly) refuse: this test is about the path.
      'evaluation.min_eval_requests=20', 'evaluation.block_broken_members=false',
      'evaluation.member_tolerance=0.5',
      # The compact export at its loosest: every member but the heaviest is left out of the
      # served graph, and any loss is accepted, so the compact model is what gets pushed.
      'fusion.compact.prune_below=0.99', 'fusion.compact.max_ndcg_loss=0.99'])
  paths = kubeflow_runner.compile_pipeline(
      config, 'registry.example/recfusion:test', str(tmp_path / 'root'), str(tmp_path / 'kfp'),
      schema_file=curated_schema_path())
  with open(paths['job']) as f:
    job = json.load(f)
  ran = []
  metadata_path = str(tmp_path / 'kfp-metadata.sqlite')
  arguments = {'data_dir': str(small_shop_dir), 'window_spans': 4, 'text_epochs': 1,
               'dcn_epochs': 1, 'sequence_epochs': 1}
  produced = kubeflow_local.run(job, str(tmp_path / 'tasks'), log=ran.append,
                                metadata_path=metadata_path, run_id='kfp-run-1',
                                parallelism=2, arguments=arguments)
  assert len(ran) == 15  # every component, the four Trainers and InputsCheck included
  assert ran[-1].startswith('RunReport')
  pushed = produced['RegistryPusher']['pushed_model'][0]['metadata']
  assert pushed['pushed'] == 1
  record = registry.latest(str(tmp_path / 'registry' / 'recfusion'))
  assert record.version == 1 and record.spans == [0, 1, 2, 3]
  # The epochs parameter, not the compiled config's 3, is what the ranker trained for (with
  # patience 1, 3 epochs would log at least 2).
  with open(tmp_path / 'tasks' / 'Trainer.dcn' / 'log.txt') as f:
    trainer_log = f.read()
  assert ' epoch 1/1: ' in trainer_log and ' epoch 2/' not in trainer_log
  assert os.path.exists(os.path.join(record.path, 'saved_model.pb'))
  compact = record.extra['compact']
  assert len(compact['pruned']) == 3, compact  # four members, the heaviest kept
  assert compact['compact']['size_mb'] < compact['full']['size_mb']
  assert record.extra['serving'] == compact['compact']
  # Typed system.HTML: the page is the artifact itself, the file KFP's UI shows.
  report = produced['RunReport']['report'][0]
  assert report['type'] == {'schemaTitle': 'system.HTML', 'schemaVersion': '0.0.1'}
  with open(report['uri']) as f:
    assert 'BLESSED: pushed as registry version 1' in f.read()

  # What `recfusion runs --mlmd-host` shows for this run, from a store shaped as KFP v2 writes it
  # (system.PipelineRun context, container executions, TFX ints as doubles), over gRPC.
  port = mlmd_grpc_service(metadata_path)
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'runs', '--json', '--mlmd-host', 'localhost', '--mlmd-port', str(port)])
  assert result.exit_code == 0, result.stderr + repr(result.exception)
  (row,) = [json.loads(line) for line in result.stdout.splitlines()]
  assert row['run_id'] == 'kfp-run-1' and row['status'] == 'complete'
  assert row['components'] == {name.split(':')[0]: 'complete' for name in ran}
  assert (row['blessed'], row['pushed_version']) == (True, '1')
  assert 0 < row['ndcg10'] <= 1

  # The same data, config, parameters and code again (a recurring run with no new span):
  # InputsCheck finds the production model's digest, and KFP skips every other task.
  again = []
  produced = kubeflow_local.run(job, str(tmp_path / 'tasks-again'), log=again.append,
                                arguments=arguments)
  assert set(produced) == {'InputsCheck'}
  check = produced['InputsCheck']['result'][0]['metadata']
  assert (check['changed'], check['unchanged_since_version']) == (0, 1)
  assert check['inputs_digest'] == record.extra['inputs_digest']
  assert sum(' skipped (' in line for line in again) == 14
  assert registry.latest(str(tmp_path / 'registry' / 'recfusion')).version == 1
