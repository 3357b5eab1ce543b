"""Fitting a fusion on the rankers' `validation` scores: standardize, choose, combine, calibrate.

With `fusion.method: auto` (the default) every registered method AND every ranker alone are
candidates. Each is judged by out-of-fold NDCG@10 on `validation`: requests are split into
folds, a method is fitted on the other folds and scores the held-out one, so no candidate is
judged on rows it was fitted on (a single ranker has nothing to fit). The best candidate is then
refitted on all of `validation`; if that refit ranks `validation` worse than the best ranker
alone, the ranker alone is exported. So the fused model is never worse than its best member
on the split it was chosen on, by construction, and the FusionReport says which won and why.
A named method (`fusion.method: gated`, ...) is fitted as asked, without that choice.
"""
import dataclasses
from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from recfusion import keys, ranking_metrics
from recfusion.models.fusion import calibration, methods

AUTO = 'auto'
FOLDS = 5
FOLD_SEED = 0


@dataclasses.dataclass
class FittedFusion:
  fusion: methods.FusionMethod
  standardizers: Dict[str, calibration.Standardizer]
  platt: Tuple[float, float]
  report: Dict[str, Any]  # what the FusionReport artifact holds


def request_folds(request_ids: np.ndarray, folds: int = FOLDS, seed: int = FOLD_SEED
                  ) -> np.ndarray:
  """A fold number per row; all rows of a request share one fold."""
  _, request = np.unique(np.asarray(request_ids), return_inverse=True)
  fold_of_request = np.random.default_rng(seed).permutation(request.max() + 1) % folds
  return fold_of_request[request.reshape(-1)]


def _subset(arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> Dict[str, np.ndarray]:
  return {k: np.asarray(v)[rows] for k, v in arrays.items()}


def out_of_fold_scores(method: str, rankers: Sequence[str], standardized, context, gains,
                       request_ids, folds: np.ndarray, **options) -> np.ndarray:
  """Scores of every row by `method` fitted on the other folds' requests."""
  method_class = methods.get(method)
  if method_class.cross_fitted:
    # Such a method cross-fits its own validation scores already.
    return method_class.fit(rankers, standardized, context, gains, request_ids, **options)[1]
  scores = np.zeros(len(gains))
  for fold in np.unique(folds):
    held_out = folds == fold
    if held_out.all():
      return method_class.fit(rankers, standardized, context, gains, request_ids,
                              **options)[1]
    fitted, _ = method_class.fit(rankers, _subset(standardized, ~held_out),
                                 _subset(context, ~held_out), gains[~held_out],
                                 np.asarray(request_ids)[~held_out], **options)
    scores[held_out] = fitted.score(_subset(standardized, held_out), _subset(context, held_out))
  return scores


def choose(rankers: Sequence[str], standardized, context, gains, request_ids, **options
           ) -> Tuple[methods.FusionMethod, np.ndarray, Dict[str, Any]]:
  """The `auto` choice: (fitted winner, its validation scores, what was compared and why)."""
  rankers = sorted(rankers)
  ndcg_at_10 = ranking_metrics.NDCG(request_ids, gains, 10)
  folds = request_folds(request_ids)
  alone = {r: ndcg_at_10(standardized[r]) for r in rankers}
  best_ranker = max(rankers, key=alone.get)
  candidates: Dict[str, float] = {f'{r} alone': v for r, v in alone.items()}
  combinations = list(methods.names()) if len(rankers) > 1 else []
  for method in combinations:
    candidates[method] = ndcg_at_10(out_of_fold_scores(
        method, rankers, standardized, context, gains, request_ids, folds, **options))
  # A combination must beat the best ranker alone outright; ties keep the simpler model.
  winner = max(candidates, key=lambda name: (round(candidates[name], 10),
                                             name == f'{best_ranker} alone'))
  reason = ''
  if winner in combinations:
    fused, scores = methods.fit(winner, rankers, standardized, context, gains, request_ids,
                                **options)
    refit_ndcg = ndcg_at_10(fused.score(standardized, context))
    if refit_ndcg < alone[best_ranker]:
      reason = (f'{winner} won out of fold ({candidates[winner]:.4f}) but its refit ranks '
                f'validation below {best_ranker} alone ({refit_ndcg:.4f} < '
                f'{alone[best_ranker]:.4f})')
      winner = f'{best_ranker} alone'
  if winner not in combinations:
    ranker = winner[:-len(' alone')]
    fused, scores = methods.Single.fit(rankers, standardized, context, gains, request_ids,
                                       ranker=ranker)
    best_combination = max(combinations, key=lambda m: candidates[m], default=None)
    reason = reason or (
        f'no combination helped: best combination {best_combination} '
        f'{candidates[best_combination]:.4f} out of fold vs {alone[ranker]:.4f}'
        if best_combination else 'only one ranker')
    summary = f'fused = {ranker} alone: {reason}'
  else:
    gain = candidates[winner] - alone[best_ranker]
    summary = (f'fused = {winner}: out-of-fold NDCG@10 {candidates[winner]:.5f} vs '
               f'{best_ranker} alone {alone[best_ranker]:.5f} ({gain:+.5f})')
  selection = {
      'chosen': winner, 'summary': summary, 'folds': FOLDS,
      'candidates_ndcg@10_out_of_fold': {k: round(v, 6) for k, v in candidates.items()},
  }
  return fused, scores, selection


def complementarity(rankers: Sequence[str], standardized, gains, request_ids,
                    grid_step: float) -> Dict[str, Any]:
  """How much the rankers differ, on the fitting split: fusion only pays when they make
  different mistakes.

  score_correlation: Pearson correlation of each pair's standardized scores.
  marginal_lift_ndcg@10: NDCG@10 of the best weighted mix of all rankers minus that of the best
  mix without this one (both fitted on the same rows, so in-sample; 0 means it adds nothing).
  """
  rankers = sorted(rankers)
  correlation = {f'{a}~{b}': round(float(np.corrcoef(standardized[a], standardized[b])[0, 1]), 4)
                 for i, a in enumerate(rankers) for b in rankers[i + 1:]}
  ndcg_at_10 = ranking_metrics.NDCG(request_ids, gains, 10)

  def best_mix(names):
    if len(names) == 1:
      return ndcg_at_10(standardized[names[0]])
    fused, _ = methods.Weighted.fit(names, standardized, {}, gains, request_ids,
                                    grid_step=grid_step)
    return ndcg_at_10(fused.score(standardized, {}))

  lift = {}
  if len(rankers) > 1:
    everything = best_mix(rankers)
    lift = {r: round(everything - best_mix([n for n in rankers if n != r]), 6) for r in rankers}
  return {'score_correlation': correlation, 'marginal_lift_ndcg@10': lift}


def check_method(method: str) -> None:
  """Raises ConfigError for a `fusion.method` that is neither `auto` nor a registered method."""
  if method != AUTO:
    methods.get(method)


def fit(scored: Mapping[str, np.ndarray], rankers: Sequence[str], method: str,
        grid_step: float) -> FittedFusion:
  """`scored`: score_split's columns of the fitting split (each ranker, request ids, gains,
  context)."""
  rankers = sorted(rankers)
  request_ids, gains = scored[keys.REQUEST_ID_KEY], scored[keys.LABEL_KEY]
  standardizers = {name: calibration.Standardizer.fit(scored[name]) for name in rankers}
  standardized = {name: standardizers[name].apply(scored[name]) for name in rankers}
  context = {name: scored[name] for name in methods.CONTEXT_FEATURES}
  if method == AUTO:
    fusion, validation_scores, selection = choose(rankers, standardized, context, gains,
                                                  request_ids, grid_step=grid_step)
  else:
    fusion, validation_scores = methods.fit(method, rankers, standardized, context, gains,
                                            request_ids, grid_step=grid_step)
    selection = {'chosen': method, 'summary': f'fused = {method} (fusion.method)'}
  platt = calibration.fit_platt(fusion.score(standardized, context), gains > 0)
  report = {
      'method': fusion.name, 'requested_method': method, 'selection': selection,
      'fit_split': keys.FUSION_SPLIT, 'weights': fusion.mean_weights,
      'params': {k: np.asarray(v).tolist() for k, v in fusion.params.items()},
      'fusion': fusion.describe(),
      # Cross-fitted validation metrics: no row is scored by a model that saw it.
      'validation_scores': 'cross-fitted' if fusion.cross_fitted else 'in-sample',
      'standardization': {n: {'mean': s.mean, 'std': s.std} for n, s in standardizers.items()},
      'calibration': {'a': platt[0], 'b': platt[1]},
      'examples': int(len(gains)), 'requests': int(len(np.unique(request_ids))),
      'metrics': {name: ranking_metrics.headline(request_ids, gains, scored[name])
                  for name in rankers},
      'complementarity': complementarity(rankers, standardized, gains, request_ids, grid_step),
  }
  report['metrics']['fused'] = ranking_metrics.headline(request_ids, gains, validation_scores)
  report['member_health'] = member_health(scored, rankers, fusion.mean_weights)
  return FittedFusion(fusion, standardizers, platt, report)


def member_health(scored: Mapping[str, np.ndarray], rankers: Sequence[str],
                  weights: Mapping[str, float]) -> Dict[str, Dict[str, float]]:
  """What the gate needs to tell a member that learned nothing from one that did: the spread
  of its raw scores, its AUC within requests on `validation` (engaged vs not), and its weight
  in the fused score."""
  request_ids, engaged = scored[keys.REQUEST_ID_KEY], scored[keys.LABEL_KEY] > 0
  return {name: {'score_std': float(np.std(scored[name])),
                 'request_auc': ranking_metrics.request_auc(request_ids, engaged, scored[name]),
                 'weight': float(weights.get(name, 0.0))} for name in rankers}
