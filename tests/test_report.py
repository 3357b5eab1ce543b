"""The model-analysis report on a small real TFMA result (TFMA run on 48 examples, no model:
predictions are read from features), its three formats, and the HTML in a real report_browser."""
import base64
import dataclasses
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from recfusion import ranking_metrics
from recfusion.artifact_types import HTMLReport
from recfusion.evaluation import eval_config, extractors
from recfusion.report import collect, render, tables
from recfusion.runs.summary import ComponentRecord, RunSummary

CHROMIUM, CHROMEDRIVER = shutil.which('chromium'), shutil.which('chromedriver')


def _examples(path):
  rng = np.random.default_rng(0)
  rows = []
  with tf.io.TFRecordWriter(path) as writer:
    for request in range(12):
      # 4 of 16 items per request, each item always of one category and brand.
      for item in rng.choice(16, size=4, replace=False):
        gain = float(rng.integers(1, 4)) if rng.random() < 0.4 else 0.0
        row = {'request_id': f'r{request}', 'gain': gain, 'item_id': f'i{item}',
               'category': f'c{item % 3}', 'brand': f'b{item % 5}',
               'request_type': 'search' if request % 2 else 'recommend',
               'history_bucket': '0' if request < 6 else '3-5',
               'score': gain + 0.5 * rng.normal(), 'base_score': gain + 1.5 * rng.normal(),
               # Engagement probability with its own deterministic error: an AUC below 1.
               'probability': 1 / (1 + np.exp(1 - gain + 1.5 * np.sin(7 * item + request)))}
        row['base_probability'] = min(1.0, 1.2 * row['probability'])
        for ranker in ('text', 'dcn', 'sequence'):
          row[ranker] = gain + rng.normal()
        example = tf.train.Example()
        for key, value in row.items():
          feature = example.features.feature[key]
          if isinstance(value, str):
            feature.bytes_list.value[:] = [value.encode()]
          else:
            feature.float_list.value[:] = [value]
        example.features.feature['engaged'].int64_list.value[:] = [int(gain > 0)]
        writer.write(example.SerializeToString())
        rows.append(row)
  return rows


@pytest.fixture(scope='module')
def tfma_result(tmp_path_factory):
  """TFMA with the pipeline's own EvalConfig and extractors (one extract per request);
  candidate and baseline read from features."""
  from tensorflow_model_analysis.api import model_eval_lib
  from tensorflow_model_analysis.utils import config_util
  root = tmp_path_factory.mktemp('tfma')
  rows = _examples(str(root / 'examples.tfrecord'))
  config = eval_config.build(ndcg10_floor=0.5, tolerance=0.01, rankers=('text', 'dcn', 'sequence'))
  labels = dict(config.model_specs[0].label_keys)
  del config.model_specs[:]
  config.model_specs.add(name='candidate', label_keys=labels,
                         prediction_keys={k: k for k in labels})
  config.model_specs.add(name='baseline', is_baseline=True, label_keys=labels,
                         prediction_keys={**{k: k for k in labels}, 'score': 'base_score',
                                          'probability': 'base_probability'})
  # TFMA decides "is there a baseline" from the models it loads, and there are none here.
  original = model_eval_lib._update_eval_config_with_defaults
  model_eval_lib._update_eval_config_with_defaults = (
      lambda c, _: config_util.update_eval_config_with_defaults(c, has_baseline=True))
  try:
    tfma.run_model_analysis(eval_config=config, data_location=str(root / 'examples.tfrecord'),
                            output_path=str(root / 'evaluation'),
                            extractors=extractors.custom_extractors(eval_config=config))
  finally:
    model_eval_lib._update_eval_config_with_defaults = original
  return str(root / 'evaluation'), rows


@pytest.fixture(scope='module')
def report(tfma_result):
  fusion = {'method': 'weighted', 'weights': {'text': 0.5, 'dcn': 0.5, 'sequence': 0.0},
            'metrics': {'text': {'ndcg@10': 0.7, 'auc': 0.8}, 'dcn': {'ndcg@10': 0.72},
                        'sequence': {'ndcg@10': 0.6}, 'fused': {'ndcg@10': 0.75}}}
  data = {'spans': [3, 4], 'requests': 12, 'examples_train': 100, 'examples_validation': 20,
          'examples_eval': 48, 'requests_without_impressions': 2, 'sampled_negatives': 6}
  run = RunSummary(
      run_id='run-7', pipeline='shop', join_report=data, fusion=fusion,
      components=[ComponentRecord('Transform', 'cached', None, {}),
                  ComponentRecord('Trainer.text', 'complete', 12.34, {})],
      evaluation={'baseline_version': 3}, push={'pushed': True, 'version': '4', 'path': '/r/4'})
  return collect.from_artifacts(tfma_result[0], run)


def _ndcg(rows, key, k=10, where=lambda r: True):
  chosen = [r for r in rows if where(r)]
  return ranking_metrics.ndcg_at_k(np.array([r['request_id'] for r in chosen]),
                                   np.array([r['gain'] for r in chosen]),
                                   np.array([r[key] for r in chosen]), k)


def test_headline_metrics_match_an_independent_computation(report, tfma_result):
  rows = tfma_result[1]
  assert report.slices['overall']['ndcg@10'] == pytest.approx(_ndcg(rows, 'score'))
  assert report.baseline_slices['overall']['ndcg@10'] == pytest.approx(_ndcg(rows, 'base_score'))
  assert report.per_model_ndcg10['dcn'] == pytest.approx(_ndcg(rows, 'dcn'))
  assert report.slices['overall']['example_count'] == 48


def test_what_shoppers_see_matches_an_independent_computation(report, tfma_result):
  rows = tfma_result[1]
  by_request = {}
  for row in rows:
    by_request.setdefault(row['request_id'], []).append(row)
  # 4 candidates a request: every one is in its top 10.
  def ild(values):
    pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1:]]
    return sum(a != b for a, b in pairs) / len(pairs)
  expected = {
      'category_diversity@10': np.mean([ild([r['category'] for r in rs])
                                        for rs in by_request.values()]),
      'brand_diversity@10': np.mean([ild([r['brand'] for r in rs]) for rs in by_request.values()]),
      'coverage@10': 1.0}
  table = {row[0]: row for row in tables.diversity_rows(report)}
  assert list(table) == [name for name, _ in tables.DIVERSITY_METRICS]
  for name, value in expected.items():
    assert report.slices['overall'][name] == pytest.approx(value)
    # The baseline shows the same items in every top 10: no change.
    assert table[name][1:4] == [f'{value:.4f}', f'{value:.4f}', '+0.0000']
  engaged = {}
  for row in rows:
    engaged[row['item_id']] = engaged.get(row['item_id'], 0) + (row['gain'] > 0)
  total = sum(engaged.values()) + len(engaged)
  novelty = np.mean([-np.log2((engaged[r['item_id']] + 1) / total) for r in rows])
  assert report.slices['overall']['novelty@10'] == pytest.approx(novelty)
  assert 'What shoppers see' in render.markdown(report)


def test_slices_are_request_level(report, tfma_result):
  rows = tfma_result[1]
  assert set(report.slices) == {'overall', 'request_type=search', 'request_type=recommend',
                                'history_bucket=0', 'history_bucket=3-5'}
  assert report.slices['request_type=search']['example_count'] == 24
  assert report.slices['request_type=search']['ndcg@10'] == pytest.approx(
      _ndcg(rows, 'score', where=lambda r: r['request_type'] == 'search'))


def test_thresholds_carry_value_bound_and_verdict(report):
  value, change = report.thresholds
  assert (value.metric, value.kind, value.bound, value.passed) == ('ndcg@10', 'value', 0.5, True)
  assert change.kind == 'change vs baseline' and change.bound == -0.01
  assert change.value == pytest.approx(report.slices['overall']['ndcg@10'] -
                                       report.baseline_slices['overall']['ndcg@10'])
  assert report.blessed is True


def test_auc_of_the_engagement_probability_matches_scikit_learn(report, tfma_result):
  from sklearn.metrics import roc_auc_score
  rows = tfma_result[1]
  expected = roc_auc_score([r['gain'] > 0 for r in rows], [r['probability'] for r in rows])
  assert 0.5 < expected < 0.99
  # The AUC is on eval_config.AUC_BINS equal-width bins of the probability (engagement.py).
  assert report.slices['overall']['auc'] == pytest.approx(expected, abs=2e-3)


def test_ndcg_curve_covers_k_1_to_20_and_calibration_has_buckets(report, tfma_result):
  assert list(report.ndcg_curve) == list(range(1, 21))
  assert report.ndcg_curve[3] == pytest.approx(_ndcg(tfma_result[1], 'score', k=3))
  assert report.calibration
  total = sum(bucket[2] for bucket in report.calibration)
  assert total == 48


def test_markdown_has_the_verdict_first_and_every_section(report):
  text = render.markdown(report)
  assert text.splitlines()[2] == '**BLESSED: pushed as registry version 4**'
  for heading in ('### Candidate vs baseline (registry version 3)', '### By slice',
                  '### Fusion (weighted)', '### Data', '### Anomalies'):
    assert heading in text
  assert '| ndcg@10 | change vs baseline |' in text


def test_markdown_escapes_html_and_pipes_in_data_values(report):
  hostile = dataclasses.replace(report, anomalies=["item '<script>alert(1)</script>' | x"])
  text = render.markdown(hostile)
  assert '<script>' not in text
  assert "- item '&lt;script&gt;alert(1)&lt;/script&gt;' \\| x" in text


def test_engagement_metrics_are_not_defined_when_every_eval_example_is_engaged(report):
  from recfusion.report import tables
  judged = dataclasses.replace(report, run=dataclasses.replace(report.run, join_report={
      **report.run.join_report, 'examples_without_engagement_eval': 0}))
  headline = {row[0]: row for row in tables.headline_rows(judged)}
  assert headline['auc'][1:] == ['n/a', 'n/a', '-']
  assert headline['mrr'][1] == 'n/a' and headline['calibration'][1] == 'n/a'
  assert headline['ndcg@10'][1] != 'n/a'
  labels = ['slice'] + [label for _, label in tables.SLICE_COLUMNS]
  mrr, auc = labels.index('MRR'), labels.index('AUC')
  assert all(row[mrr] == 'n/a' and row[auc] == 'n/a' for row in tables.slice_rows(judged))
  assert any('AUC, MRR and calibration of engagement are not defined' in note
             for note in tables.data_notes(judged))
  # With unengaged examples (or a join report from before the count existed) they are shown.
  assert {row[0]: row for row in tables.headline_rows(report)}['auc'][1] != 'n/a'


def test_text_summary(report):
  """The closing summary of `recfusion run` and `recfusion report --format text`."""
  text = render.render(report, 'text')
  lines = [line.rstrip() for line in text.splitlines()]  # rich pads table titles
  assert lines[0] == 'BLESSED: pushed as registry version 4  (run run-7)'
  for title in ('components', 'gate', 'candidate vs baseline (registry version 3)',
                'fusion (weighted)', 'by slice (eval)'):
    assert title in lines
  assert re.search(r'│ Transform +│ +cached │ +- │', text)
  assert re.search(r'│ Trainer\.text +│ complete │ +12\.3 │', text)
  assert 'data: spans [3, 4], 12 requests, examples train 100, validation 20, eval 48' in lines
  assert '  note: 2 requests logged no impressions: 6 catalog negatives sampled' in lines
  assert re.search(r'│ dcn +│ +0\.5000 │ +0\.7200 │ +- │ +\d\.\d{4} │', text)
  # requests, examples, then NDCG@10 against production.
  assert re.search(r'│ request_type=search +│ +\d+ │ +\d+ │ +\d\.\d{4} │ +\d\.\d{4} │ +[+-]\d\.\d{4} │',
                   text), text
  # ... and the best member on the slice, named.
  assert re.search(r'│ overall +│.*│ +\d\.\d{4} (dcn|text|sequence) │', text), text
  assert lines[-1] == 'pushed version 4: /r/4'


def test_html_is_self_contained_with_every_chart(report):
  page = render.html(report)
  images = re.findall(r'<img alt="[^"]+" src="data:image/png;base64,([^"]+)"', page)
  assert len(images) == 4
  assert all(base64.b64decode(i)[:8] == b'\x89PNG\r\n\x1a\n' for i in images)
  assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from a network
  assert 'BLESSED: pushed as registry version 4' in page


def _rejected(tfma_result):
  rejected = collect.from_artifacts(tfma_result[0], RunSummary(
      push={'pushed': False, 'version': '', 'path': ''}))
  rejected.thresholds[0].passed = False
  rejected.blessed = False
  return rejected


def test_rejected_model_shows_the_failed_threshold(tfma_result):
  page = render.html(_rejected(tfma_result))
  assert 'NOT BLESSED' in page and '<td class="fail">fail</td>' in page
  assert 'Candidate vs baseline (no model in production yet)' in page


def test_text_summary_of_a_rejected_model_without_a_baseline(tfma_result):
  text = render.render(_rejected(tfma_result), 'text')
  lines = [line.rstrip() for line in text.splitlines()]
  assert lines[0] == 'NOT BLESSED: not pushed'
  assert 'candidate vs baseline (no model in production yet)' in lines
  assert re.search(r'│ ndcg@10 +│ +value │ +\d\.\d{4} │ +>= 0\.5 │ +fail │', text)
  assert 'components' not in lines and not any(line.startswith('data:') for line in lines)
  assert lines[-1] == 'not pushed: the model was not blessed'


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason='needs Debian chromium and chromium-driver (.ci/run installs them)')
def test_html_in_headless_chromium_renders_every_image_without_console_errors(report, tmp_path):
  from tools import report_browser
  page = tmp_path / 'report.html'
  page.write_text(render.html(report))
  check = report_browser.check_page(str(page), str(tmp_path / 'report.png'))
  assert check.console_errors == []
  assert check.images == 4 and check.broken_images == 0
  assert check.distinct_colours > 16  # not a blank page
  assert os.path.getsize(tmp_path / 'report.png') > 10_000


def test_fusion_notes_say_what_was_chosen_what_was_left_out_and_how_the_rankers_differ():
  from recfusion.report import tables
  fusion = {'selection': {'summary': 'fused = dcn alone: no combination helped'},
            'dropped': {'sequence': 'nothing to learn: history_item_idx the same'},
            'complementarity': {'score_correlation': {'dcn~text': 0.4123},
                                'marginal_lift_ndcg@10': {'dcn': 0.0123, 'text': 0.0}}}
  assert tables.fusion_notes(fusion) == [
      'fused = dcn alone: no combination helped',
      'sequence left out: nothing to learn: history_item_idx the same',
      'score correlation (validation): dcn~text 0.41',
      'marginal lift, NDCG@10 of the best weighted mix with vs without: dcn +0.0123, '
      'text +0.0000']
  assert tables.fusion_notes({}) == []


def test_member_notes_name_the_inputs_a_log_lacks_and_a_forests_first_splits():
  from recfusion.report import tables
  members = {'dcn': {'inputs': 24, 'constant_inputs': ['bm25_brand', 'price_z']},
             'sequence': {'inputs': 20, 'constant_inputs': ['bm25_brand', 'price_z']},
             'text': {'inputs': 9, 'constant_inputs': ['price_z']},
             'gbt': {'inputs': 23, 'constant_inputs': [], 'trees': 76,
                     'root_splits': {'bm25_title': 0.1711, 'item_idx': 0.0395,
                                     'query_char3_overlap': 0.3816, 'query_coverage': 0.2237,
                                     'query_title_overlap': 0.1842}},
             'other': {}}
  assert tables.member_notes(members) == [
      'the same in every train example (nothing to learn from): bm25_brand, price_z '
      '(inputs of dcn 2 of 24, sequence 2 of 20)',
      'the same in every train example (nothing to learn from): price_z (inputs of text 1 of 9)',
      'gbt: 76 trees, first splits on query_char3_overlap 38%, query_coverage 22%, '
      'query_title_overlap 18%, bm25_title 17%']
  assert tables.fusion_notes({'members': members})[0].startswith('the same in every')


def test_the_push_line_gives_the_served_models_size_and_latency(report):
  cost = {'size_mb': 12.345, 'latency_ms_p50': 4.06, 'latency_ms_p99': 6.0,
          'candidates_per_request': 27.5, 'timed_requests': 100}
  served = dataclasses.replace(report, run=dataclasses.replace(
      report.run, push={**report.run.push, 'serving': cost}))
  assert tables.push_line(served) == ('pushed version 4: /r/4 (12.3 MB; 4.1 ms p50, 6.0 ms p99 '
                                      'a request of 27.5 candidates)')
  assert tables.serving_cost_text({'size_mb': 1.0}) == '1.0 MB'


def test_a_kfp_run_with_nothing_new_says_so_in_its_verdict_and_push_lines():
  from recfusion.report import tables
  from recfusion.report.collect import ReportData
  from recfusion.runs.summary import RunSummary
  report = ReportData(run=RunSummary(push={'pushed': False, 'unchanged_since': 3}))
  assert tables.verdict_line(report) == ('nothing new since registry version 3: same data, '
                                         'config and code; nothing trained')
  assert tables.push_line(report) == 'not pushed: version 3 was made from the same inputs'


def test_slices_in_natural_order_with_size_and_change_against_production():
  from recfusion.report import tables
  from recfusion.report.collect import OVERALL, ReportData
  from recfusion.runs.summary import RunSummary
  slices = {name: {'ndcg@10': 0.5, 'requests': 40.0, 'example_count': 400.0}
            for name in ('history_bucket=11+', 'history_bucket=3-5', 'history_bucket=0',
                         OVERALL, 'request_type=search')}
  slices['history_bucket=3-5']['ndcg@10'] = 0.6
  slices['history_bucket=11+'].update(requests=1.0, example_count=10.0)
  report = ReportData(run=RunSummary(run_id='r'), slices=slices,
                      baseline_slices={'history_bucket=3-5': {'ndcg@10': 0.55}})
  rows = tables.slice_rows(report)
  assert [row[0] for row in rows] == [OVERALL, 'history_bucket=0', 'history_bucket=3-5',
                                      'history_bucket=11+', 'request_type=search']
  assert rows[2][:6] == ['history_bucket=3-5', '40', '400', '0.6000', '0.5500', '+0.0500']
  assert rows[1][4:6] == ['-', '-']  # no production value for that slice
  assert rows[3][1:3] == ['1', '10']  # a count, not a rate: not "1.0000"


def test_a_saved_report_reads_back_as_it_was_and_prints_the_same(report, tmp_path):
  from recfusion.report import data as report_data
  path = report_data.save(report, str(tmp_path))
  assert os.path.basename(path) == 'report.json'
  loaded = report_data.load(str(tmp_path))
  assert loaded == report
  assert render.render(loaded, 'text') == render.render(report, 'text')
  assert report_data.load(str(tmp_path / 'elsewhere')) is None
  (tmp_path / 'report.json').write_text('{"run": ')  # cut short: read from TFMA instead
  assert report_data.load(str(tmp_path)) is None


def test_each_members_ndcg_by_slice_matches_an_independent_computation(report, tfma_result):
  _, rows = tfma_result
  for member in ('text', 'dcn', 'sequence'):
    assert report.member_slices['overall'][member] == pytest.approx(_ndcg(rows, member), abs=1e-6)
    assert report.member_slices['request_type=search'][member] == pytest.approx(
        _ndcg(rows, member, where=lambda r: r['request_type'] == 'search'), abs=1e-6)
  header = tables.slice_header(report)
  assert header[-3:] == ['dcn NDCG@10', 'sequence NDCG@10', 'text NDCG@10']
  overall = tables.slice_rows(report)[0]
  assert overall[-1] == f'{report.member_slices["overall"]["text"]:.4f}'
  best = max(report.member_slices['overall'].items(), key=lambda kv: kv[1])
  assert tables.slice_rows(report, compact=True)[0][-1] == f'{best[1]:.4f} {best[0]}'


def test_the_ndcg10_change_carries_its_jackknife_interval(report):
  change, lower, upper = report.ndcg10_change
  overall, production = report.slices['overall'], report.baseline_slices['overall']
  assert change == pytest.approx(overall['ndcg@10'] - production['ndcg@10'], abs=1e-6)
  assert lower <= change <= upper and lower < upper
  ndcg10 = next(row for row in tables.headline_rows(report) if row[0] == 'ndcg@10')
  assert ndcg10[3] == f'{change:+.4f} [{lower:+.4f}, {upper:+.4f}]'
  assert tables.change_text([0.01, 0.01, 0.01]) == '+0.0100'


def test_slice_chart_shows_changes_against_production_and_the_best_member(report):
  changes = render.slice_changes(report)
  for name, (vs_production, vs_member) in changes.items():
    value = report.slices[name]['ndcg@10']
    assert vs_production == pytest.approx(value - report.baseline_slices[name]['ndcg@10'])
    assert vs_member == pytest.approx(value - max(report.member_slices[name].values()))


def test_history_lists_registry_versions_and_where_this_run_stands(tmp_path):
  from recfusion import registry
  from recfusion.report.data import ReportData
  model = tmp_path / 'model'
  model.mkdir()
  directory = str(tmp_path / 'registry')
  registry.push(directory, str(model), run_id='run-1', metrics={'ndcg@10': 0.61})
  registry.push(directory, str(model), run_id='run-2', metrics={'ndcg@10': 0.63})
  registry.rollback(directory, 1)
  history = collect.registry_history(directory)
  assert [(v['version'], v['run_id'], v['ndcg@10'], v['rollback_of']) for v in history] == [
      (1, 'run-1', 0.61, None), (2, 'run-2', 0.63, None), (3, 'run-1', 0.61, 1)]
  assert collect.registry_history(str(tmp_path / 'none')) == []
  rejected = ReportData(run=RunSummary(run_id='run-4'), history=history,
                        slices={'overall': {'ndcg@10': 0.6}})
  rows = tables.history_rows(rejected)
  assert [row[0] for row in rows] == ['1', '2', '3', '-']
  assert rows[2][4] == 'rollback to 1'
  assert rows[3] == ['-', '-', 'run-4', '0.6000', 'this run (not pushed)']
  pushed = dataclasses.replace(rejected, run=RunSummary(run_id='run-2'))
  assert [row[4] for row in tables.history_rows(pushed)] == ['', 'this run', 'rollback to 1']
  assert render.chart_history(rejected).startswith('data:image/png;base64,')


def _model_run(run_dir):
  """A Trainer's ModelRun folder from a real Keras fit with the TensorBoard callback the
  Trainers use, and its warm-start note; Keras's own history."""
  import json as json_lib
  import tf_keras as keras
  features = np.random.default_rng(0).normal(size=(64, 3)).astype('float32')
  labels = (features[:, 0] > 0).astype('float32')
  model = keras.Sequential([keras.layers.Dense(1, activation='sigmoid', input_shape=(3,))])
  model.compile(optimizer='adam', loss='binary_crossentropy',
                metrics=[keras.metrics.AUC(name='auc')])
  fitted = model.fit(features, labels, validation_data=(features, labels), epochs=3, verbose=0,
                     callbacks=[keras.callbacks.TensorBoard(log_dir=run_dir)])
  with open(os.path.join(run_dir, 'warm_start.json'), 'w') as f:
    json_lib.dump({'warm_started': False, 'reason': 'no production model'}, f)
  return fitted


def test_training_curves_and_warm_start_come_from_the_trainers_model_run(tmp_path):
  from recfusion.report import training
  from recfusion.report.data import ReportData
  run_dir = str(tmp_path / 'model_run')
  fitted = _model_run(run_dir)
  trained = training.trainers({'Trainer.dcn': {'model_run': [run_dir]}, 'Fusion': {}})
  epochs = trained['dcn']['epochs']
  assert [e['epoch'] for e in epochs] == [1, 2, 3]
  assert [e['loss'] for e in epochs] == pytest.approx(fitted.history['loss'], abs=1e-5)
  assert [e['val_loss'] for e in epochs] == pytest.approx(fitted.history['val_loss'], abs=1e-5)
  assert [e['val_auc'] for e in epochs] == pytest.approx(fitted.history['val_auc'], abs=1e-5)
  report = ReportData(run=RunSummary(run_id='r'), training=trained)
  (row,) = tables.training_rows(report)
  best = int(np.argmin(fitted.history['val_loss']))
  assert row[:3] == ['dcn', 'scratch: no production model', '3']
  assert row[4] == f'{fitted.history["val_loss"][best]:.4f} ({best + 1})'
  assert render.chart_training(report).startswith('data:image/png;base64,')
  page = render.html(report)
  assert f'tensorboard --logdir_spec dcn:{run_dir}' in page


def test_the_dags_run_report_has_the_training_section_and_the_resolved_config(
    tfma_result, tmp_path, monkeypatch):
  """RunReport's executor, called directly: the page the DAG writes has what `recfusion
  report` shows from ML Metadata, the Trainers' curves, the config and the data drift included."""
  from tfx.types import standard_artifacts
  from recfusion import keys
  from recfusion.components.run_report import component as run_report_component
  from recfusion.components.run_report import executor as run_report
  monkeypatch.delenv(keys.REPORT_AT_URI_ENV, raising=False)
  _model_run(str(tmp_path / 'dcn_run'))
  # Production is version 1 of a registry, pushed with the statistics of its run's data; this
  # run's data has another request mix.
  from recfusion import registry
  from recfusion.report import drift_test
  production_statistics = drift_test._statistics(tmp_path / 'stats-1', drift_test._shop(50, 10.0))
  model = tmp_path / 'model'
  model.mkdir()
  (model / 'saved_model.pb').write_text('fused')
  record = registry.push(str(tmp_path / 'registry'), str(model), run_id='run-1',
                         extra={keys.STATISTICS: production_statistics})
  baseline = standard_artifacts.Model()
  baseline.set_int_custom_property(keys.BASELINE_FOUND, 1)
  baseline.set_int_custom_property(keys.BASELINE_VERSION, 1)
  baseline.set_string_custom_property(keys.BASELINE_PATH, record.path)
  statistics = standard_artifacts.ExampleStatistics()
  statistics.uri = drift_test._statistics(tmp_path / 'stats-2', drift_test._shop(90, 10.0))
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = tfma_result[0]
  model_run = standard_artifacts.ModelRun()
  model_run.uri = str(tmp_path / 'dcn_run')
  page_artifact = HTMLReport()
  page_artifact.uri = str(tmp_path / 'report')
  run_report.Executor().Do(
      {'evaluation': [evaluation], run_report_component.model_run_key('dcn'): [model_run],
       'baseline_model': [baseline], 'statistics': [statistics]},
      {'report': [page_artifact]},
      {'pipeline_name': 'shop', 'config_yaml': 'trainers:\n  dcn:\n    epochs: 3\n'})
  with open(tmp_path / 'report' / 'report.html') as f:
    page = f.read()
  assert f'tensorboard --logdir_spec dcn:{tmp_path / "dcn_run"}' in page
  assert '<td>scratch: no production model</td>' in page
  assert 'alt="loss per epoch on train and validation"' in page
  assert '<summary>resolved config</summary><pre>trainers:\n  dcn:\n    epochs: 3\n</pre>' in page
  assert '<h3>Data: this run vs what version 1 was trained on</h3>' in page
  assert ('<td>request_type</td><td>2 values, top &#39;search&#39; (90%)</td>' in page
          and '<td>0.400 L-infinity</td><td>0.1</td><td class="fail">drifted</td>' in page)


def test_markdown_and_html_explain_every_metric(report):
  page, text = render.html(report), render.markdown(report)
  for name, _ in tables.METRIC_GUIDE:
    assert f'**{name}**' in text
    assert f'<dt><b>{name}</b></dt>' in page
