"""Unit tests of the fusion fit: the `auto` choice never exports worse than its best ranker."""
import numpy as np
import pytest

from recfusion import keys, ranking_metrics
from recfusion.models.fusion import fitting


def _scored(rng, requests, per_request, informative):
  """Score columns as score_split returns them: `informative` maps ranker -> noise sd around
  the gain (None: pure noise)."""
  n = requests * per_request
  gains = rng.integers(0, 4, n).astype(np.float32) * (rng.random(n) < 0.5)
  scored = {keys.REQUEST_ID_KEY: np.repeat(np.arange(requests), per_request).astype(str).astype(
      object), keys.LABEL_KEY: gains,
            'is_search': np.repeat(rng.integers(0, 2, requests), per_request).astype(np.float32),
            'history_length_01': rng.random(n).astype(np.float32),
            'query_length': rng.integers(0, 5, n).astype(np.float32)}
  for name, noise in informative.items():
    scored[name] = (rng.normal(size=n) if noise is None
                    else gains + noise * rng.normal(size=n)).astype(np.float32)
  return scored


def _ndcg(scored, scores):
  return ranking_metrics.ndcg_at_k(scored[keys.REQUEST_ID_KEY], scored[keys.LABEL_KEY], scores,
                                   10)


@pytest.mark.parametrize('seed', range(6))
def test_auto_fusion_is_never_worse_on_validation_than_its_best_ranker(seed):
  """The guarantee, on data of every kind: one strong ranker among noise, two comparable ones,
  all noise; few and many requests."""
  rng = np.random.default_rng(seed)
  shapes = [{'a': 0.3, 'b': None, 'c': None}, {'a': 1.0, 'b': 1.2, 'c': 3.0},
            {'a': None, 'b': None, 'c': None}]
  scored = _scored(rng, requests=int(rng.integers(20, 120)), per_request=int(rng.integers(3, 9)),
                   informative=shapes[seed % 3])
  fitted = fitting.fit(scored, ['a', 'b', 'c'], fitting.AUTO, grid_step=0.1)
  standardized = {n: fitted.standardizers[n].apply(scored[n]) for n in 'abc'}
  context = {k: scored[k] for k in ('is_search', 'history_length_01', 'query_length')}
  exported = _ndcg(scored, fitted.fusion.score(standardized, context))
  best_alone = max(_ndcg(scored, scored[n]) for n in 'abc')
  assert exported >= best_alone - 1e-9
  assert fitted.report['metrics']['fused']['ndcg@10'] >= best_alone - 1e-9
  selection = fitted.report['selection']
  assert set(selection['candidates_ndcg@10_out_of_fold']) == {
      'a alone', 'b alone', 'c alone', 'weighted', 'gated', 'stacking'}
  assert selection['summary'].startswith('fused = ')


def test_one_strong_ranker_among_noise_is_exported_alone_and_the_report_says_so():
  rng = np.random.default_rng(11)
  scored = _scored(rng, requests=150, per_request=6, informative={'a': 0.05, 'b': None,
                                                                    'c': None})
  fitted = fitting.fit(scored, ['a', 'b', 'c'], fitting.AUTO, grid_step=0.1)
  selection = fitted.report['selection']
  # Nothing can beat the nearly perfect ranker; a combination may only tie it.
  if selection['chosen'] == 'a alone':
    assert fitted.report['method'] == 'single'
    assert fitted.report['weights'] == {'a': 1.0, 'b': 0.0, 'c': 0.0}
    assert selection['summary'].startswith('fused = a alone: no combination helped')
  else:
    assert selection['candidates_ndcg@10_out_of_fold'][selection['chosen']] > \
        selection['candidates_ndcg@10_out_of_fold']['a alone']


def test_two_complementary_rankers_are_combined():
  """a knows search requests, b recommendations: only a gate can use both."""
  rng = np.random.default_rng(5)
  requests, per_request = 200, 6
  scored = _scored(rng, requests, per_request, informative={})
  gains, search = scored[keys.LABEL_KEY], scored['is_search'] == 1
  n = len(gains)
  scored['a'] = np.where(search, gains + 0.1 * rng.normal(size=n), rng.normal(size=n))
  scored['b'] = np.where(~search, gains + 0.1 * rng.normal(size=n), rng.normal(size=n))
  fitted = fitting.fit(scored, ['a', 'b'], fitting.AUTO, grid_step=0.1)
  assert fitted.report['selection']['chosen'] in ('gated', 'stacking')
  assert fitted.report['metrics']['fused']['ndcg@10'] > max(
      fitted.report['metrics']['a']['ndcg@10'], fitted.report['metrics']['b']['ndcg@10']) + 0.05


def test_a_named_method_is_fitted_as_asked():
  rng = np.random.default_rng(2)
  scored = _scored(rng, requests=40, per_request=5, informative={'a': 0.5, 'b': 1.0})
  fitted = fitting.fit(scored, ['a', 'b'], 'weighted', grid_step=0.25)
  assert fitted.report['method'] == 'weighted'
  assert fitted.report['selection'] == {'chosen': 'weighted',
                                        'summary': 'fused = weighted (fusion.method)'}


def test_request_folds_keep_each_request_in_one_fold():
  ids = np.array(['r1', 'r2', 'r1', 'r3', 'r2', 'r4', 'r5', 'r6'])
  folds = fitting.request_folds(ids, folds=3)
  for request in set(ids):
    assert len(set(folds[ids == request])) == 1
  assert set(folds) <= {0, 1, 2} and len(set(folds)) == 3


def test_complementarity_reports_correlation_and_each_rankers_marginal_lift():
  rng = np.random.default_rng(9)
  scored = _scored(rng, requests=120, per_request=6, informative={'a': 0.5, 'b': None})
  scored['a_copy'] = scored['a'].copy()
  fitted = fitting.fit(scored, ['a', 'a_copy', 'b'], 'weighted', grid_step=0.1)
  report = fitted.report['complementarity']
  assert report['score_correlation']['a~a_copy'] == 1.0
  assert abs(report['score_correlation']['a~b']) < 0.2
  lift = report['marginal_lift_ndcg@10']
  # A copy adds nothing (the other copy stands in for it), and neither does noise.
  assert lift == {'a': 0.0, 'a_copy': 0.0, 'b': lift['b']} and lift['b'] <= 1e-3
