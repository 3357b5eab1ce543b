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
  assert len(ran) == 14  # every component, the four Trainers included
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
