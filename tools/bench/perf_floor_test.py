"""The floor must do the work the DAG does: the bare join writes the examples LogJoinExampleGen
writes, on the same small shop and settings."""
import json

from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from recfusion import keys
from recfusion.components.log_join_example_gen import executor as join_executor
from recfusion.config import load_config
from recfusion.pipeline import beam_workers
from tools.bench import perf_floor


def test_the_bare_join_writes_what_log_join_example_gen_writes(small_shop_dir, tmp_path):
  config = load_config(overrides=[
      'data.split.fractions={train: 0.5, validation: 0.25, eval: 0.25}',
      'data.negatives_per_request=4'])
  floor = perf_floor.join_floor(config, small_shop_dir, str(tmp_path))
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'dag')
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=['--direct_running_mode=in_memory', '--direct_num_workers=1'])
  with beam_workers.tfx_packaging_skipped():  # as the local runner runs it: no TFX sdist
    executor = join_executor.Executor(context)
  executor.Do({}, {'examples': [examples]}, {
      'input_base': small_shop_dir, 'window_spans': config.data.window_spans,
      'split_config': json.dumps({'mode': 'fractions',
                                  'fractions': dict(config.data.split.fractions)}),
      'negatives_per_request': 4, 'history_max': config.data.history_max,
      'on_unknown_item': 'error', 'seed': config.data.seed,
      'earliest_timestamp': config.data.earliest_timestamp})
  report = json.loads(examples.get_string_custom_property(keys.JOIN_REPORT))
  assert floor['examples'] == {s: report[f'examples_{s}'] for s in keys.SPLITS}
  assert min(floor['examples'].values()) > 0
