"""The gate's checks beyond TFMA's thresholds, and the one verdict the run acts on.

TFMA validates a threshold on the point estimate only, even when it computed a confidence
interval. A reviewer rejects more than a floor and a tolerance catch: a change whose interval
reaches far below the production model's, an eval set too small to say anything, a fused model
below one of its own members, a member that learned nothing, a version that changes nothing, a
version that narrows what shoppers see.
Each is a `Check` here, computed from plain numbers so that every one is testable on its own;
`evaluate` reads those numbers from the TFMA result and the fused model's member health.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

GATE_FILE = 'gate.json'
# Below this standard deviation on `validation` a member's score is a constant.
CONSTANT_STD = 1e-6


@dataclasses.dataclass(frozen=True)
class Settings:
  ndcg10_floor: float
  tolerance: float
  min_eval_requests: int
  material_change: float
  member_tolerance: float
  block_broken_members: bool = True
  max_coverage_drop: float = 1.0  # 1: off (coverage is a share)


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate and its 95% interval (lower == upper == value when none was computed)."""
  value: float
  lower: float
  upper: float

  @classmethod
  def point(cls, value: float) -> 'Interval':
    return cls(value, value, value)

  def __str__(self) -> str:
    if self.lower == self.upper == self.value:
      return f'{self.value:+.4f} (no interval)'
    return f'{self.value:+.4f} [{self.lower:+.4f}, {self.upper:+.4f}]'


@dataclasses.dataclass(frozen=True)
class Check:
  name: str
  passed: bool
  detail: str  # one sentence a reviewer reads: the numbers and the rule

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MemberHealth:
  """What Fusion saw of one member on `validation`."""
  name: str
  score_std: float
  request_auc: float  # within requests, on `validation` (ranking_metrics.request_auc)
  weight: float  # its (mean) weight in the fused score; 0 = the fusion left it out

  @property
  def used(self) -> bool:
    return abs(self.weight) > 1e-9


def eval_requests(requests: Optional[int], settings: Settings) -> Check:
  if requests is None:
    return Check('eval_requests', False, 'the number of eval requests is unknown')
  return Check('eval_requests', requests >= settings.min_eval_requests,
               f'{requests} eval requests (at least {settings.min_eval_requests} needed for '
               'NDCG@10 to mean anything)')


def change_vs_baseline(change: Interval, settings: Settings) -> Check:
  """The interval's lower end, not the point, must stay within the tolerance: a model that
  might be much worse is not pushed on the strength of a lucky point estimate."""
  return Check('change_vs_baseline', change.lower >= -settings.tolerance,
               f'NDCG@10 change vs production {change}; its lower bound must be at least '
               f'{-settings.tolerance:+g}')


def material_change(change: Interval, settings: Settings) -> Check:
  """An interval holding 0 and a point change below the threshold: a new version would
  change nothing a shopper could notice, so none is pushed."""
  if settings.material_change <= 0:
    return Check('material_change', True, 'off (evaluation.material_change is 0)')
  holds_zero = change.lower <= 0 <= change.upper
  immaterial = holds_zero and change.value < settings.material_change
  if immaterial:
    detail = (f'no material change vs production: NDCG@10 change {change} holds 0 and is '
              f'below {settings.material_change:g}')
  else:
    detail = f'NDCG@10 change vs production {change} is material'
  return Check('material_change', not immaterial, detail)


def coverage_vs_baseline(change: Optional[Interval], settings: Settings) -> Check:
  """A model that shows shoppers a much narrower part of the catalog than production is not
  pushed for a small NDCG gain: the point change of coverage@10 (distinct items in any top 10
  over the eval candidates) must stay above -max_coverage_drop."""
  if settings.max_coverage_drop >= 1:
    return Check('coverage_vs_baseline', True, 'off (evaluation.max_coverage_drop is 1)')
  if change is None:
    return Check('coverage_vs_baseline', True,
                 'no coverage@10 change in the evaluation to check')
  return Check('coverage_vs_baseline', change.value >= -settings.max_coverage_drop,
               f'coverage@10 change vs production {change}; it must be at least '
               f'{-settings.max_coverage_drop:+g}')


def fused_vs_members(fused: float, members: Mapping[str, float], settings: Settings) -> Check:
  if not members:
    return Check('fused_vs_members', True, 'no member NDCG@10 on eval to compare with')
  best = max(sorted(members), key=lambda name: members[name])
  passed = fused >= members[best] - settings.member_tolerance
  relation = 'at least' if fused >= members[best] else 'below'
  return Check('fused_vs_members', passed,
               f'fused NDCG@10 {fused:.4f} is {relation} its best member {best} '
               f'({members[best]:.4f}) on eval (allowed shortfall {settings.member_tolerance:g})')


def members_healthy(health: Sequence[MemberHealth], block: bool = True) -> Check:
  """A member the fused score uses must have learned something; one it left out is named but
  does not block (the served model does not depend on it). A NaN AUC (no request with both
  engaged and other candidates) says nothing and passes. `block` False reports without
  blocking (evaluation.block_broken_members)."""
  problems, notes = [], []
  for member in sorted(health, key=lambda m: m.name):
    issue = None
    if not member.score_std >= CONSTANT_STD:  # NaN too
      issue = f'{member.name} scores every candidate the same (std {member.score_std:.2g})'
    elif member.request_auc <= 0.5:
      issue = (f'{member.name} orders engaged vs other candidates of a request no better than '
               f'chance (validation AUC within requests {member.request_auc:.4f} ≤ 0.5)')
    if issue:
      (problems if member.used else notes).append(issue)
  if problems:
    detail = 'members the fused model uses are broken: ' + '; '.join(problems)
  else:
    detail = 'every member the fused model uses learned something'
  if notes:
    detail += '; left out by the fusion: ' + '; '.join(notes)
  if problems and not block:
    return Check('members_healthy', True,
                 detail + ' (not blocking: evaluation.block_broken_members is false)')
  return Check('members_healthy', not problems, detail)


def decide(ndcg10: Interval, requests: Optional[int], members: Mapping[str, float],
           health: Sequence[MemberHealth], settings: Settings,
           change: Optional[Interval] = None,
           coverage_change: Optional[Interval] = None) -> List[Check]:
  """Every check, in the order a reviewer reads them; without a production model (`change`
  None) there is nothing to compare with. The floor is TFMA's own threshold (eval_config.py),
  checked there."""
  checks = [eval_requests(requests, settings),
            fused_vs_members(ndcg10.value, members, settings),
            members_healthy(health, settings.block_broken_members)]
  if change is not None:
    checks += [change_vs_baseline(change, settings), material_change(change, settings),
               coverage_vs_baseline(coverage_change, settings)]
  return checks


def blessed(checks: Sequence[Check]) -> bool:
  return all(check.passed for check in checks)


def member_health_from_report(report: Mapping[str, Any]) -> List[MemberHealth]:
  """The `member_health` section Fusion writes into its report."""
  return [MemberHealth(name, float(h['score_std']), float(h['request_auc']), float(h['weight']))
          for name, h in sorted(report.items())]


def save(checks: Sequence[Check], directory: str) -> str:
  from tfx.dsl.io import fileio
  path = os.path.join(directory, GATE_FILE)
  with fileio.open(path, 'w') as f:
    f.write(json.dumps({'blessed': blessed(checks), 'checks': [c.to_dict() for c in checks]},
                       indent=2))
  return path


def load(directory: str) -> Optional[List[Check]]:
  """The checks a run's Evaluator saved; None for a run from before the gate wrote them."""
  from tfx.dsl.io import fileio
  path = os.path.join(directory, GATE_FILE)
  if not fileio.exists(path):
    return None
  with fileio.open(path) as f:
    return [Check(**c) for c in json.loads(f.read())['checks']]
