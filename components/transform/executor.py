"""Transform executor: TFX's own, less two traces of the preprocessing_fn that change nothing.

TFX's Transform traces the preprocessing_fn five times a run, about 0.6 s each on a 2-core
machine whatever the data size: to name the analyzers' input columns (twice: once to fail
early, once to use them), the transform's input columns, the analyzer cache's entries, and for
the analysis itself. The pipeline turns the analyzer cache off (docs/architecture.md §2), yet
TFX still lists the cache's entries, only to estimate a stage count for a cache it then
neither reads nor writes; and the second column inspection repeats the first. While this
executor runs TFX's, the repeated inspection is answered from the first and the cache listing
is skipped when there is no cache; everything else is TFX's own code.
"""
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow_transform as tft
from tfx import version as tfx_version
from tfx.components.transform import executor as stock_executor

from recfusion import library_patches

# The TFX whose Transform internals (TransformProcessor._OptimizeRun, its column inspections)
# this module was written against; under another, TFX's own run unchanged.
TFX_VERSION = '1.16.'
_StockOptimizeRun = stock_executor.TransformProcessor._OptimizeRun  # pylint: disable=protected-access


class OptimizeRunWithoutCache(_StockOptimizeRun):
  """TFX's `_OptimizeRun` (which datasets to analyze, given the analyzer cache), minus the
  preprocessing_fn trace that lists the cache's entries when no cache is read or written and
  the cache is not incremental: TFX then analyzes every dataset and passes no cache on, and so
  does this, in TFX's order. The third value, which only feeds a metrics counter (the stage
  count TFX estimates from the entries), is 0."""

  def expand(self, pipeline: beam.Pipeline):
    if (self._input_cache_dir is not None or self._output_cache_dir is not None
        or self._enable_incremental_cache):
      return super().expand(pipeline)
    # TFX's workaround that keeps this transform composite in Beam's graph, kept as is.
    _ = pipeline | 'WorkaroundForBug170304777' >> beam.Create([None])
    return ({dataset.dataset_key: dataset for dataset in reversed(self._analyze_data_list)},
            None, 0)


def _remembered(inspect):
  """`inspect` (a tft column inspection) answering a repeated question from its first answer."""
  answers: Dict[Any, List[str]] = {}

  def remembered(preprocessing_fn, specs, force_tf_compat_v1=False):
    key = (preprocessing_fn, tuple(sorted(specs.items())), force_tf_compat_v1)
    try:
      hash(key)
    except TypeError:  # a feature spec with a list default, say: asked afresh
      return inspect(preprocessing_fn, specs, force_tf_compat_v1=force_tf_compat_v1)
    if key not in answers:
      answers[key] = list(inspect(preprocessing_fn, specs, force_tf_compat_v1=force_tf_compat_v1))
    return list(answers[key])

  return remembered


def swapped_in(running_tfx: str = tfx_version.__version__):
  """While open, TFX's Transform skips the cache listing without a cache and inspects the
  analyzers' input columns once. Under another TFX, its own code runs (a warning says so)."""
  return library_patches.swapped(
      'TFX', running_tfx, TFX_VERSION,
      "Transform traces the preprocessing_fn twice more; components/transform/executor.py",
      (stock_executor.TransformProcessor, '_OptimizeRun', OptimizeRunWithoutCache),
      (tft, 'get_analyze_input_columns', _remembered(tft.get_analyze_input_columns)))


class Executor(stock_executor.Executor):

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    with swapped_in():
      super().Do(input_dict, output_dict, exec_properties)
