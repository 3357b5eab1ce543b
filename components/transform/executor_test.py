"""The Transform executor's two savings, each on its own: TFX's code paths are run, the
preprocessing_fn traces counted."""
import apache_beam as beam
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.beam import analyzer_cache
from tfx.components.transform import executor as stock_executor

from recfusion.components.transform import executor

SPECS = {'x': tf.TensorSpec([None], tf.float32), 'word': tf.TensorSpec([None], tf.string)}


class _CountedFn:
  """A preprocessing_fn that counts its traces: x is analyzed (scaled), word only passed."""

  def __init__(self):
    self.traces = 0

  def __call__(self, inputs):
    self.traces += 1
    return {'x_scaled': tft.scale_to_z_score(inputs['x']), 'word': inputs['word']}


class _Dataset:
  def __init__(self, key):
    self.dataset_key = analyzer_cache.DatasetKey(key)


def _optimize_run(fn, datasets, input_cache_dir=None, output_cache_dir=None):
  transform = stock_executor.TransformProcessor._OptimizeRun(  # pylint: disable=protected-access
      input_cache_dir, output_cache_dir, datasets, SPECS, fn, beam.Create([]), True, False,
      False)
  with beam.Pipeline() as pipeline:
    return pipeline | transform


def test_without_a_cache_every_dataset_is_analyzed_with_no_trace_as_tfx_decides():
  datasets = [_Dataset('span-1'), _Dataset('span-2')]
  stock_fn = _CountedFn()
  stock = _optimize_run(stock_fn, datasets)
  with executor.swapped_in():
    fn = _CountedFn()
    ours = _optimize_run(fn, datasets)
  assert stock_fn.traces == 1 and fn.traces == 0
  assert list(ours[0].items()) == list(stock[0].items())  # the same datasets, in TFX's order
  assert ours[0] == {d.dataset_key: d for d in datasets}
  assert ours[1] is None and stock[1] is None


def test_with_a_cache_tfx_decides_as_it_always_does(tmp_path):
  stock_fn, fn = _CountedFn(), _CountedFn()
  stock = _optimize_run(stock_fn, [_Dataset('span-1')], output_cache_dir=str(tmp_path / 'a'))
  with executor.swapped_in():
    ours = _optimize_run(fn, [_Dataset('span-1')], output_cache_dir=str(tmp_path / 'b'))
  assert fn.traces == stock_fn.traces >= 1  # it lists the cache's entries
  assert ours[0].keys() == stock[0].keys() and ours[1] == stock[1] == {}


def test_the_analyzers_input_columns_are_inspected_once_per_run():
  fn = _CountedFn()
  with executor.swapped_in():
    first = tft.get_analyze_input_columns(fn, SPECS, force_tf_compat_v1=True)
    again = tft.get_analyze_input_columns(fn, dict(SPECS), force_tf_compat_v1=True)
    assert fn.traces == 1
    first.append('changed by the caller')
    assert tft.get_analyze_input_columns(fn, SPECS, force_tf_compat_v1=True) == ['x']
  assert again == ['x']
  # Outside the executor TFT is itself again: each call traces.
  tft.get_analyze_input_columns(fn, SPECS, force_tf_compat_v1=True)
  assert fn.traces == 2
  assert stock_executor.TransformProcessor._OptimizeRun is not (  # pylint: disable=protected-access
      executor.OptimizeRunWithoutCache)


def test_another_tfx_keeps_its_own_transform():
  original = tft.get_analyze_input_columns
  with executor.swapped_in(running_tfx='1.17.0'):
    assert tft.get_analyze_input_columns is original
    assert stock_executor.TransformProcessor._OptimizeRun is not (  # pylint: disable=protected-access
        executor.OptimizeRunWithoutCache)


def test_the_pipeline_runs_transform_with_this_executor():
  from recfusion.config import load_config
  from recfusion.pipeline import factory
  pipeline = factory.create_pipeline(load_config(), '/data', '/root', registry_dir='/registry')
  transform = next(c for c in pipeline.components if c.id == 'Transform')
  assert transform.executor_spec.executor_class is executor.Executor


def test_the_executor_runs_tfxs_transform_with_both_savings(monkeypatch):
  seen = {}

  def stock_do(self, input_dict, output_dict, exec_properties):
    seen['optimize_run'] = stock_executor.TransformProcessor._OptimizeRun  # pylint: disable=protected-access
    seen['inspect'] = tft.get_analyze_input_columns
    seen['args'] = (input_dict, output_dict, exec_properties)

  monkeypatch.setattr(stock_executor.Executor, 'Do', stock_do)
  original_inspect = tft.get_analyze_input_columns
  executor.Executor().Do({'examples': []}, {'transform_graph': []}, {'splits_config': '{}'})
  assert seen['optimize_run'] is executor.OptimizeRunWithoutCache
  assert seen['inspect'] is not original_inspect
  assert seen['args'] == ({'examples': []}, {'transform_graph': []}, {'splits_config': '{}'})
  assert tft.get_analyze_input_columns is original_inspect


def test_unhashable_specs_are_inspected_each_time():
  fn = _CountedFn()
  specs = {'x': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
           'word': tf.io.FixedLenFeature([], tf.string)}
  with executor.swapped_in():
    assert tft.get_analyze_input_columns(fn, specs, force_tf_compat_v1=True) == ['x']
    assert tft.get_analyze_input_columns(fn, specs, force_tf_compat_v1=True) == ['x']
  assert fn.traces == 2
