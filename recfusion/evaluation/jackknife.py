"""TFMA's delete-d jackknife in three shuffles instead of about sixty.

TFMA (0.47) computes its jackknife intervals by splitting the sliced extracts into 20 random
partitions, combining each partition per slice (20 shuffles), merging the partitions (one), and
then, for each of the 20 delete-d samples, flattening the 19 other partitions' accumulators and
merging them per slice (20 more shuffles, each with its own Beam stages). Beam's in-process
runner pays a fixed cost per stage whatever the data holds, and on the quick shop those ~60
stages were 3.9 of the Evaluator's 7.5 s.

`ComputeWithConfidenceIntervals` below takes the same arguments and returns the same
(slice key, MetricsDict) elements: the same partition draw, TFMA's own combine functions and
derived metrics, TFMA's own `_JackknifeSampleCombineFn` turning the samples into intervals.
What differs is the plumbing: one shuffle combines each (slice, partition), one gathers a
slice's 20 partition accumulators, and one function merges them into the full sample and the
20 delete-d samples. The Evaluator puts it in place of TFMA's for the time it builds its Beam
pipeline (`swapped_in`).
"""
from typing import Optional, Set

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import confidence_intervals_util
from tensorflow_model_analysis.evaluators import jackknife as tfma_jackknife

from recfusion import library_patches

FULL_SAMPLE_ID = tfma_jackknife._FULL_SAMPLE_ID  # pylint: disable=protected-access


class _SampleMerger(beam.DoFn):
  """(slice key, [(partition, accumulator)]) -> (sample id, (slice key, metrics)) for the full
  sample and each delete-d sample that has data.

  Delete-d sample j merges every partition but j. Merging the 19 others afresh for each of the
  20 samples is ~400 merges per slice, each of a partition's whole accumulator (diversity's
  holds a count per item: 1.2 of the 10x bench Evaluator's 2.6 s of sample merging went there).
  Here sample j is (partitions before j) + (partitions after j), both running merges kept from
  one pass each way: three merges per partition."""

  def __init__(self, combine_fn: beam.CombineFn, num_samples: int):
    self._combine_fn = combine_fn
    self._num_samples = num_samples

  def setup(self):
    self._combine_fn.setup()

  def _merged(self, accumulators):
    # A fresh accumulator first: merges may write into their first input, and every input here
    # is read again by later merges.
    return self._combine_fn.merge_accumulators([self._combine_fn.create_accumulator(),
                                                *accumulators])

  def process(self, element):
    slice_key, partitions = element
    ids, accumulators = zip(*sorted(dict(partitions).items()))
    after = [None] * (len(ids) + 1)  # after[i]: partitions i.. merged
    for i in reversed(range(1, len(ids))):
      after[i] = self._merged([accumulators[i]] + ([after[i + 1]] if i + 1 < len(ids) else []))
    before = None  # partitions ..i-1 merged, in partition order
    for i, sample_id in enumerate(ids):
      kept = [merged for merged in (before, after[i + 1]) if merged is not None]
      if kept:  # else no other partition has this slice: TFMA's sample lacks it too
        yield sample_id, (slice_key, self._combine_fn.extract_output(self._merged(kept)))
      after[i + 1] = None  # read for the last time: a catalog-sized accumulator less held
      before = self._merged(([before] if before is not None else []) + [accumulators[i]])
    # The full sample: every partition merged in partition order, one after the other, as this
    # merger always merged it. A sample whose deleted partition lacks this slice keeps all of
    # it (its metrics extracted anew: later stages may add to the dict).
    for sample_id in [FULL_SAMPLE_ID, *sorted(set(range(self._num_samples)) - set(ids))]:
      yield sample_id, (slice_key, self._combine_fn.extract_output(before))

  def teardown(self):
    self._combine_fn.teardown()


@beam.ptransform_fn
def ComputeWithConfidenceIntervals(  # pylint: disable=invalid-name
    sliced_extracts, computations_combine_fn: beam.CombineFn,
    derived_metrics_ptransform: beam.PTransform, num_jackknife_samples: int,
    skip_ci_metric_keys: Optional[Set] = None, random_seed_for_testing: Optional[int] = None):
  """TFMA's `jackknife.ComputeWithConfidenceIntervals`, in three shuffles (module docstring)."""
  random_state = np.random.RandomState(random_seed_for_testing)

  def with_partition(sliced_extract):
    slice_key, extracts = sliced_extract
    # As TFMA's beam.Partition draws it: one draw per sliced extract, in arrival order.
    return (slice_key, random_state.randint(num_jackknife_samples)), extracts

  by_sample = (
      sliced_extracts
      | 'AddPartition' >> beam.Map(with_partition)
      | 'CombinePartitionPerSlice' >> beam.CombinePerKey(
          tfma_jackknife._AccumulateOnlyCombineFn(  # pylint: disable=protected-access
              computations_combine_fn))
      | 'KeyBySlice' >> beam.MapTuple(lambda key, acc: (key[0], (key[1], acc)))
      | 'GroupPartitionsPerSlice' >> beam.GroupByKey()
      | 'MergeSamples' >> beam.ParDo(_SampleMerger(computations_combine_fn,
                                                   num_jackknife_samples))
      | 'SplitBySample' >> beam.Partition(
          lambda element, _: element[0] + 1, num_jackknife_samples + 1))
  samples = []
  for index, sample in enumerate(by_sample):
    sample_id = index - 1
    # Derived and diff metrics per sample, as TFMA adds them (they may span slices).
    samples.append(
        sample
        | f'DropSampleId[{sample_id}]' >> beam.Map(lambda element: element[1])
        | f'AddDerivedMetrics[{sample_id}]' >> derived_metrics_ptransform
        | f'AddSampleIdToValue[{sample_id}]' >> beam.MapTuple(
            lambda slice_key, metrics, sample_id=sample_id: (
                slice_key, confidence_intervals_util.SampleMetrics(
                    metrics=metrics, sample_id=sample_id))))
  return (samples
          | 'FlattenSamples' >> beam.Flatten()
          | 'CombineJackknifeSamplesPerSlice' >> beam.CombinePerKey(
              tfma_jackknife._JackknifeSampleCombineFn(  # pylint: disable=protected-access
                  num_jackknife_samples, skip_ci_metric_keys)))


# The TFMA whose evaluator, private combine functions and jackknife output this module was
# written against and tested with (jackknife_test.py).
TFMA_VERSION = '0.47.'


def swapped_in(tfma_version: str = tfma.__version__):
  """While open, TFMA's evaluator builds its jackknife with this module's transform. Under
  another TFMA, whose internals may differ, TFMA's own runs (slower), and a warning says so."""
  return library_patches.swapped(
      'TFMA', tfma_version, TFMA_VERSION,
      "the Evaluator's jackknife builds about 60 Beam stages; recfusion/evaluation/jackknife.py",
      (tfma_jackknife, 'ComputeWithConfidenceIntervals', ComputeWithConfidenceIntervals))
