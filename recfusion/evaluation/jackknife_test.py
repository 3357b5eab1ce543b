"""recfusion's jackknife against TFMA's, on one Beam pipeline each with the same partition
draw: the same samples, so the same intervals."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import util as beam_testing
from tensorflow_model_analysis.evaluators import jackknife as tfma_jackknife
from tensorflow_model_analysis.metrics import metric_types

from recfusion.evaluation import jackknife

MEAN = metric_types.MetricKey('mean')
COUNT = metric_types.MetricKey('count')


class _MeanAndCount(beam.CombineFn):
  """A metric combiner the way TFMA's are shaped: extracts in, a MetricsDict out."""

  def create_accumulator(self):
    return [0.0, 0]

  def add_input(self, accumulator, extract):
    accumulator[0] += extract['x']
    accumulator[1] += 1
    return accumulator

  def merge_accumulators(self, accumulators):
    accumulators = iter(accumulators)
    result = next(accumulators)
    for accumulator in accumulators:
      result[0] += accumulator[0]
      result[1] += accumulator[1]
    return result

  def extract_output(self, accumulator):
    return {MEAN: accumulator[0] / accumulator[1], COUNT: float(accumulator[1])}


def _sliced_extracts(rows: int):
  rng = np.random.default_rng(3)
  # Four slices: a rare one with fewer rows than partitions (some partitions lack it), and one
  # of a single row (one partition has it: its own delete-d sample lacks it).
  slices = [(), (('kind', 'a'),), (('kind', 'rare'),)]
  return [(slices[index], {'x': float(value)}) for value, index in zip(
      rng.normal(size=rows), rng.choice(3, rows, p=[0.6, 0.37, 0.03]))] + [
          ((('kind', 'single'),), {'x': 0.5})]


def _same_intervals(grouped):
  """Per slice: (ours, theirs) MetricsDicts equal, intervals included."""
  assert len(grouped) == 4
  for slice_key, outputs in grouped:
    [ours], [theirs] = outputs['ours'], outputs['theirs']
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
      mine = ours[key]
      assert type(mine) is type(value), (slice_key, key)
      if hasattr(value, 'sample_standard_deviation'):
        assert mine.unsampled_value == pytest.approx(value.unsampled_value, rel=1e-12)
        assert mine.sample_mean == pytest.approx(value.sample_mean, rel=1e-12)
        assert mine.sample_standard_deviation == pytest.approx(
            value.sample_standard_deviation, rel=1e-9)
        assert mine.sample_degrees_of_freedom == value.sample_degrees_of_freedom
      elif isinstance(value, str):  # TFMA's note on a slice too rare for intervals
        assert mine == value, (slice_key, key)
      else:  # a slice missing from some samples gets its point estimate only
        assert mine == pytest.approx(value, rel=1e-12), (slice_key, key)


def test_the_same_intervals_as_tfmas_jackknife():
  arguments = dict(derived_metrics_ptransform=beam.Map(lambda sliced: sliced),
                   num_jackknife_samples=20, random_seed_for_testing=11)
  with beam.Pipeline() as pipeline:
    extracts = pipeline | beam.Create(_sliced_extracts(400), reshuffle=False)
    ours = extracts | 'Ours' >> jackknife.ComputeWithConfidenceIntervals(
        computations_combine_fn=_MeanAndCount(), **arguments)
    theirs = extracts | 'Theirs' >> tfma_jackknife.ComputeWithConfidenceIntervals(
        computations_combine_fn=_MeanAndCount(), **arguments)
    grouped = {'ours': ours, 'theirs': theirs} | beam.CoGroupByKey()
    beam_testing.assert_that(grouped, _same_intervals)


def _different_intervals(grouped):
  overall = dict(grouped)[()]
  [ours], [theirs] = overall['ours'], overall['theirs']
  assert ours[MEAN].unsampled_value == pytest.approx(theirs[MEAN].unsampled_value, rel=1e-12)
  assert ours[MEAN].sample_standard_deviation != pytest.approx(
      theirs[MEAN].sample_standard_deviation, rel=1e-6)


def test_another_partition_draw_gives_other_intervals_around_the_same_value():
  # What makes the comparison above mean something: the intervals follow the draw.
  arguments = dict(derived_metrics_ptransform=beam.Map(lambda sliced: sliced),
                   num_jackknife_samples=20)
  with beam.Pipeline() as pipeline:
    extracts = pipeline | beam.Create(_sliced_extracts(400), reshuffle=False)
    ours = extracts | 'Ours' >> jackknife.ComputeWithConfidenceIntervals(
        computations_combine_fn=_MeanAndCount(), random_seed_for_testing=12, **arguments)
    theirs = extracts | 'Theirs' >> tfma_jackknife.ComputeWithConfidenceIntervals(
        computations_combine_fn=_MeanAndCount(), random_seed_for_testing=11, **arguments)
    grouped = {'ours': ours, 'theirs': theirs} | beam.CoGroupByKey()
    beam_testing.assert_that(grouped, _different_intervals)


def test_the_evaluator_builds_with_it_only_while_swapped_in():
  original = tfma_jackknife.ComputeWithConfidenceIntervals
  with jackknife.swapped_in():
    assert tfma_jackknife.ComputeWithConfidenceIntervals is (
        jackknife.ComputeWithConfidenceIntervals)
  assert tfma_jackknife.ComputeWithConfidenceIntervals is original


def test_another_tfma_keeps_its_own_jackknife():
  original = tfma_jackknife.ComputeWithConfidenceIntervals
  with jackknife.swapped_in(tfma_version='0.48.0'):
    assert tfma_jackknife.ComputeWithConfidenceIntervals is original
