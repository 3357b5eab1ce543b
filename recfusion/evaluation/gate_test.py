"""Each gate check on plain numbers: when it passes, when it fires, and what it says."""
import pytest

from recfusion.evaluation import gate
from recfusion.evaluation.gate import Interval, MemberHealth

SETTINGS = gate.Settings(ndcg10_floor=0.3, tolerance=0.01, min_eval_requests=200,
                         material_change=0.001, member_tolerance=0.0)
HEALTHY = [MemberHealth('dcn', 0.8, 0.71, 0.6), MemberHealth('text', 0.5, 0.64, 0.4)]


def _by_name(checks):
  return {c.name: c for c in checks}


def test_too_few_eval_requests_fire():
  assert gate.eval_requests(200, SETTINGS).passed
  fired = gate.eval_requests(199, SETTINGS)
  assert not fired.passed
  assert fired.detail == ('199 eval requests (at least 200 needed for NDCG@10 to mean '
                          'anything)')
  assert not gate.eval_requests(None, SETTINGS).passed


def test_the_change_is_gated_on_its_lower_bound_not_its_point():
  # The point (-0.002) is within the tolerance, the interval's lower end (-0.015) is not.
  fired = gate.change_vs_baseline(Interval(-0.002, -0.015, 0.011), SETTINGS)
  assert not fired.passed
  assert fired.detail == ('NDCG@10 change vs production -0.0020 [-0.0150, +0.0110]; its lower '
                          'bound must be at least -0.01')
  assert gate.change_vs_baseline(Interval(-0.002, -0.01, 0.006), SETTINGS).passed


def test_no_material_change_fires_when_the_interval_holds_zero_and_the_point_is_small():
  fired = gate.material_change(Interval(0.0005, -0.002, 0.003), SETTINGS)
  assert not fired.passed
  assert fired.detail.startswith('no material change vs production: NDCG@10 change +0.0005 ')
  # A worse model whose interval holds 0 changes nothing material either.
  assert not gate.material_change(Interval(-0.004, -0.009, 0.001), SETTINGS).passed
  # Large enough, or an interval clear of 0: material.
  assert gate.material_change(Interval(0.001, -0.002, 0.004), SETTINGS).passed
  assert gate.material_change(Interval(0.0008, 0.0002, 0.0014), SETTINGS).passed


def test_material_change_zero_turns_the_check_off():
  off = gate.Settings(**{**SETTINGS.__dict__, 'material_change': 0.0})
  check = gate.material_change(Interval(0.0, 0.0, 0.0), off)
  assert check.passed and check.detail == 'off (evaluation.material_change is 0)'


def test_a_fused_model_below_its_best_member_fires():
  fired = gate.fused_vs_members(0.70, {'dcn': 0.72, 'text': 0.65}, SETTINGS)
  assert not fired.passed
  assert fired.detail == ('fused NDCG@10 0.7000 is below its best member dcn (0.7200) on eval '
                          '(allowed shortfall 0)')
  assert gate.fused_vs_members(0.72, {'dcn': 0.72, 'text': 0.65}, SETTINGS).passed
  loose = gate.Settings(**{**SETTINGS.__dict__, 'member_tolerance': 0.03})
  assert gate.fused_vs_members(0.70, {'dcn': 0.72}, loose).passed
  assert gate.fused_vs_members(0.70, {}, SETTINGS).passed


def test_a_constant_or_useless_member_the_fusion_uses_fires():
  constant = MemberHealth('dcn', 0.0, 0.5, 0.5)
  fired = gate.members_healthy([constant, HEALTHY[1]])
  assert not fired.passed
  assert fired.detail == ('members the fused model uses are broken: dcn scores every candidate '
                          'the same (std 0)')
  backwards = MemberHealth('sequence', 0.3, 0.48, 0.2)
  assert gate.members_healthy([backwards]).detail == (
      'members the fused model uses are broken: sequence orders engaged vs other candidates of '
      'a request no better than chance (validation AUC within requests 0.4800 ≤ 0.5)')
  assert not gate.members_healthy([backwards]).passed


def test_a_broken_member_the_fusion_left_out_is_named_but_does_not_block():
  left_out = MemberHealth('sequence', 0.0, 0.5, 0.0)
  check = gate.members_healthy([*HEALTHY, left_out])
  assert check.passed
  assert check.detail == ('every member the fused model uses learned something; left out by '
                          'the fusion: sequence scores every candidate the same (std 0)')


def test_decide_without_a_baseline_has_no_change_checks():
  checks = gate.decide(Interval.point(0.74), 500, {'dcn': 0.73}, HEALTHY, SETTINGS)
  assert [c.name for c in checks] == ['eval_requests', 'fused_vs_members', 'members_healthy']
  assert gate.blessed(checks)


def test_decide_with_a_baseline_blesses_only_when_every_check_passes():
  good = gate.decide(Interval(0.75, 0.73, 0.77), 500, {'dcn': 0.73}, HEALTHY, SETTINGS,
                     change=Interval(0.01, 0.004, 0.016))
  assert [c.name for c in good] == ['eval_requests', 'fused_vs_members', 'members_healthy',
                                    'change_vs_baseline', 'material_change',
                                    'coverage_vs_baseline']
  assert gate.blessed(good)
  same = gate.decide(Interval(0.75, 0.73, 0.77), 500, {'dcn': 0.73}, HEALTHY, SETTINGS,
                     change=Interval(0.0, 0.0, 0.0))
  assert not gate.blessed(same)
  assert [c.name for c in same if not c.passed] == ['material_change']


def test_member_health_reads_the_fusion_report_section():
  health = gate.member_health_from_report(
      {'text': {'score_std': 0.5, 'request_auc': 0.6, 'weight': 0.0},
       'dcn': {'score_std': 1.0, 'request_auc': 0.7, 'weight': 1.0}})
  assert health == [MemberHealth('dcn', 1.0, 0.7, 1.0), MemberHealth('text', 0.5, 0.6, 0.0)]
  assert [m.used for m in health] == [True, False]


def test_checks_round_trip_through_the_saved_file(tmp_path):
  checks = gate.decide(Interval.point(0.74), 10, {}, [], SETTINGS)
  gate.save(checks, str(tmp_path))
  assert gate.load(str(tmp_path)) == checks
  assert gate.load(str(tmp_path / 'missing')) is None


@pytest.mark.parametrize('value, text', [(Interval.point(0.5), '+0.5000 (no interval)'),
                                         (Interval(0.5, 0.4, 0.6), '+0.5000 [+0.4000, +0.6000]')])
def test_interval_text(value, text):
  assert str(value) == text


def test_broken_members_can_be_reported_without_blocking():
  constant = MemberHealth('dcn', 0.0, 0.5, 0.5)
  check = gate.members_healthy([constant], block=False)
  assert check.passed
  assert check.detail.endswith('(not blocking: evaluation.block_broken_members is false)')
  lenient = gate.Settings(**{**SETTINGS.__dict__, 'block_broken_members': False})
  assert gate.blessed(gate.decide(Interval.point(0.7), 500, {}, [constant], lenient))


def test_a_drop_in_coverage_beyond_the_limit_fires():
  narrower = gate.Settings(**{**SETTINGS.__dict__, 'max_coverage_drop': 0.05})
  assert gate.coverage_vs_baseline(Interval(-0.05, -0.08, -0.02), narrower).passed
  fired = gate.coverage_vs_baseline(Interval(-0.06, -0.09, -0.03), narrower)
  assert not fired.passed
  assert fired.detail == ('coverage@10 change vs production -0.0600 [-0.0900, -0.0300]; it must '
                          'be at least -0.05')
  checks = gate.decide(Interval(0.75, 0.73, 0.77), 500, {}, HEALTHY, narrower,
                       change=Interval(0.01, 0.004, 0.016),
                       coverage_change=Interval(-0.06, -0.09, -0.03))
  assert [c.name for c in checks if not c.passed] == ['coverage_vs_baseline']


def test_the_coverage_check_is_off_at_1_and_passes_without_numbers():
  assert gate.coverage_vs_baseline(Interval.point(-0.9), SETTINGS).detail == (
      'off (evaluation.max_coverage_drop is 1)')
  on = gate.Settings(**{**SETTINGS.__dict__, 'max_coverage_drop': 0.1})
  # An evaluation from before the diversity metrics has no coverage to compare.
  assert gate.coverage_vs_baseline(None, on).passed


def test_a_member_with_nan_scores_counts_as_broken():
  check = gate.members_healthy([MemberHealth('dcn', float('nan'), 0.7, 1.0)])
  assert not check.passed
  assert 'dcn scores every candidate the same (std nan)' in check.detail
