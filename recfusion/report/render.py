"""Renders a ReportData as one self-contained HTML page or markdown (the terminal rendering is
recfusion/report/text.py, which loads no plotting library).

The HTML has its charts inlined as PNG data URIs and its styles inline: it opens offline,
from an email attachment or a KFP artifact, and prints.
"""
import base64
import datetime
import io
from html import escape as html_escape
from typing import List, Optional, Sequence

import jinja2
import matplotlib

matplotlib.use('Agg')  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from rich.console import Console  # noqa: E402

from recfusion.report import tables, text  # noqa: E402
from recfusion.report.data import OVERALL, ReportData  # noqa: E402


# ---- charts -------------------------------------------------------------------------------

def _png(figure) -> str:
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=110, bbox_inches='tight')
  plt.close(figure)
  return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode()


def _zoomed(values: Sequence[float], margin: float = 0.02) -> tuple:
  """An axis range around the values: on a 0-1 axis a change of 0.005 is invisible."""
  return max(0.0, min(values) - margin), min(1.0, max(values) + margin)


def slice_changes(report: ReportData) -> dict:
  """Per slice: the candidate's NDCG@10 minus production's, and minus its best member's
  (None where there is nothing to compare)."""
  out = {}
  for name in tables.slice_order(report.slices):
    value = report.slices[name].get('ndcg@10')
    before = report.baseline_slices.get(name, {}).get('ndcg@10')
    members = report.member_slices.get(name, {})
    out[name] = (None if value is None or before is None else value - before,
                 None if value is None or not members else value - max(members.values()))
  return out


def chart_slices(report: ReportData) -> Optional[str]:
  """Changes, not levels: per slice the candidate minus production and minus its best member,
  around 0, with the jackknife interval on the overall change. Levels (zoomed) only when
  there is nothing to compare with."""
  names = tables.slice_order(report.slices)
  if not names:
    return None
  changes = slice_changes(report)
  figure, axis = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
  positions = list(range(len(names)))
  if any(c != (None, None) for c in changes.values()):
    series = (('vs production', 0, '#2b6cb0', -0.2), ('vs best member', 1, '#dd6b20', 0.2))
    for label, index, colour, offset in series:
      values = [changes[n][index] for n in names]
      if all(v is None for v in values):
        continue
      axis.barh([p + offset for p in positions], [v or 0.0 for v in values], height=0.4,
                label=label, color=colour)
    if report.ndcg10_change and OVERALL in names:
      value, lower, upper = report.ndcg10_change
      axis.errorbar([value], [names.index(OVERALL) - 0.2], xerr=[[value - lower], [upper - value]],
                    fmt='none', ecolor='#1a202c', capsize=4, label='95% interval')
    axis.axvline(0, color='#1a202c', linewidth=0.8)
    axis.legend(loc='best', fontsize='small')
    axis.set_xlabel('NDCG@10 change (eval): candidate minus ...')
  else:
    values = [report.slices[n].get('ndcg@10', 0.0) for n in names]
    axis.barh(positions, values, height=0.6, color='#2b6cb0')
    axis.set_xlim(*_zoomed(values))
    axis.set_xlabel('NDCG@10 (eval)')
  axis.set_yticks(positions, names)
  axis.invert_yaxis()
  axis.grid(axis='x', alpha=0.3)
  return _png(figure)


def chart_ndcg_curve(report: ReportData) -> Optional[str]:
  """NDCG@k of both models, and below it their difference: two close curves hide each other."""
  if not report.ndcg_curve:
    return None
  ks = list(report.ndcg_curve)
  compared = [k for k in ks if k in report.baseline_ndcg_curve]
  rows = 2 if compared else 1
  figure, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), sharex=True, squeeze=False)
  axis = axes[0][0]
  axis.plot(ks, list(report.ndcg_curve.values()), marker='o', label='candidate',
            color='#2b6cb0')
  if compared:
    axis.plot(list(report.baseline_ndcg_curve), list(report.baseline_ndcg_curve.values()),
              marker='.', linestyle='--', label='baseline', color='#718096')
    axis.legend()
    below = axes[1][0]
    below.bar(compared, [report.ndcg_curve[k] - report.baseline_ndcg_curve[k] for k in compared],
              color='#2b6cb0')
    below.axhline(0, color='#1a202c', linewidth=0.8)
    below.set_ylabel('candidate - baseline')
    below.grid(alpha=0.3)
  axes[-1][0].set_xlabel('k')
  axis.set_ylabel('NDCG@k')
  axes[-1][0].set_xticks(ks)
  axis.grid(alpha=0.3)
  return _png(figure)


def chart_history(report: ReportData) -> Optional[str]:
  """NDCG@10 of every registry version (each on its own run's eval split), and this run's."""
  points = [(v['version'], v['ndcg@10']) for v in report.history if v.get('ndcg@10') is not None]
  if not points:
    return None
  figure, axis = plt.subplots(figsize=(7, 2.8))
  axis.plot([p[0] for p in points], [p[1] for p in points], marker='o', color='#718096',
            label='registry versions')
  values = [p[1] for p in points]
  candidate = tables.candidate_in_history(report)
  if candidate:
    position, value, pushed_as = candidate
    axis.scatter([position], [value], color='#2b6cb0', zorder=3,
                 label='this run' if pushed_as is not None else 'this run (not pushed)')
    values.append(value)
  axis.set_ylim(*_zoomed(values))
  axis.set_xlabel('registry version')
  axis.set_ylabel('NDCG@10 (eval)')
  axis.legend(fontsize='small')
  axis.grid(alpha=0.3)
  return _png(figure)


def chart_training(report: ReportData) -> Optional[str]:
  """Loss per epoch on train and validation, one panel per ranker."""
  trained = {name: t['epochs'] for name, t in sorted(report.training.items()) if t.get('epochs')}
  if not trained:
    return None
  figure, axes = plt.subplots(1, len(trained), figsize=(3.2 * len(trained), 2.8), squeeze=False)
  for axis, (name, epochs) in zip(axes[0], trained.items()):
    for key, style in (('loss', '-'), ('val_loss', '--')):
      points = [(e['epoch'], e[key]) for e in epochs if key in e]
      if points:
        axis.plot([p[0] for p in points], [p[1] for p in points], linestyle=style, marker='o',
                  label='validation' if key == 'val_loss' else 'train')
    axis.set_title(name)
    axis.set_xlabel('epoch')
    axis.set_xticks([e['epoch'] for e in epochs])
    axis.grid(alpha=0.3)
  axes[0][0].set_ylabel('loss')
  axes[0][0].legend(fontsize='small')
  return _png(figure)


def chart_calibration(report: ReportData) -> Optional[str]:
  if not report.calibration:
    return None
  figure, axis = plt.subplots(figsize=(4.5, 4.5))
  predicted = [b[0] for b in report.calibration]
  observed = [b[1] for b in report.calibration]
  sizes = [max(10.0, 200.0 * b[2] / max(c[2] for c in report.calibration))
           for b in report.calibration]
  top = max(predicted + observed + [0.05]) * 1.1
  axis.plot([0, top], [0, top], linestyle='--', color='#a0aec0', label='perfect')
  axis.scatter(predicted, observed, s=sizes, color='#2b6cb0', label='buckets')
  axis.set_xlim(0, top)
  axis.set_ylim(0, top)
  axis.set_xlabel('mean predicted engagement probability')
  axis.set_ylabel('observed engagement rate')
  axis.legend(loc='upper left')
  return _png(figure)


def chart_fusion(report: ReportData) -> Optional[str]:
  metrics = report.run.fusion.get('metrics')
  if not metrics:
    return None
  names = sorted(metrics, key=lambda n: (n == 'fused', n))
  figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
  weights = report.run.fusion.get('weights', {})
  left.bar([n for n in names if n != 'fused'], [weights.get(n, 0) for n in names
                                                 if n != 'fused'], color='#38a169')
  left.set_title('fusion weights')
  left.set_ylim(0, 1)
  right.bar(names, [metrics[n].get('ndcg@10', 0) for n in names],
            color=['#2b6cb0' if n == 'fused' else '#a0aec0' for n in names])
  right.set_title('NDCG@10 on validation')
  right.set_ylim(*_zoomed([metrics[n].get('ndcg@10', 0) for n in names]))
  return _png(figure)


# ---- formats ------------------------------------------------------------------------------

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader('recfusion.report', 'templates'),
    autoescape=jinja2.select_autoescape(['html', 'j2']))


def html(report: ReportData) -> str:
  charts = {'slices': chart_slices(report), 'ndcg_curve': chart_ndcg_curve(report),
            'calibration': chart_calibration(report), 'fusion': chart_fusion(report),
            'history': chart_history(report), 'training': chart_training(report)}
  return _TEMPLATE.get_template('report.html.j2').render(
      report=report, run=report.run, verdict=tables.verdict_line(report),
      thresholds=tables.threshold_rows(report), checks=tables.check_rows(report),
      baseline=tables.baseline_title(report),
      headline=tables.headline_rows(report), slices=tables.slice_rows(report),
      diversity=tables.diversity_rows(report), diversity_columns=tables.DIVERSITY_COLUMNS,
      slice_columns=tables.slice_header(report)[1:],
      history=tables.history_rows(report), history_columns=tables.HISTORY_COLUMNS,
      training=tables.training_rows(report), training_columns=tables.TRAINING_COLUMNS,
      guide=tables.METRIC_GUIDE,
      fusion=tables.fusion_rows(report), model_columns=tables.MODEL_COLUMNS,
      fusion_notes=tables.fusion_notes(report.run.fusion),
      data=tables.data_rows(report), charts=charts,
      drift_title=tables.drift_title(report), drift=tables.drift_rows(report),
      drift_line=tables.drift_line(report), drift_columns=tables.DRIFT_COLUMNS,
      generated=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))


def _md(value) -> str:
  """A data value as Markdown text: HTML escaped (pull-request pages render raw HTML, and an
  item or anomaly text can hold `<script>`), table pipes escaped."""
  return html_escape(str(value), quote=False).replace('|', '\\|')


def _markdown_table(header: Sequence[str], rows: List[List[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(_md(cell) for cell in row) + ' |' for row in rows]
  return '\n'.join(lines)


def markdown(report: ReportData) -> str:
  parts = [f'## recfusion run {_md(report.run.run_id)}'.rstrip(),
           f'**{_md(tables.verdict_line(report))}**']
  if report.thresholds:
    parts.append(_markdown_table(tables.THRESHOLD_COLUMNS, tables.threshold_rows(report)))
  if report.checks:
    parts.append(_markdown_table(tables.CHECK_COLUMNS, tables.check_rows(report)))
  parts.append(f'### Candidate vs baseline ({tables.baseline_title(report)})')
  parts.append(_markdown_table(tables.HEADLINE_COLUMNS, tables.headline_rows(report)))
  if tables.diversity_rows(report):
    parts.append('### What shoppers see')
    parts.append(_markdown_table(tables.DIVERSITY_COLUMNS, tables.diversity_rows(report)))
  parts.append('### By slice')
  parts.append(_markdown_table(tables.slice_header(report), tables.slice_rows(report)))
  if tables.history_rows(report):
    parts.append('### NDCG@10 across registry versions')
    parts.append(_markdown_table(tables.HISTORY_COLUMNS, tables.history_rows(report)))
  if report.training:
    parts.append('### Training')
    parts.append(_markdown_table(tables.TRAINING_COLUMNS, tables.training_rows(report)))
  if report.run.fusion:
    parts.append(f'### Fusion ({report.run.fusion.get("method")})')
    parts.append(_markdown_table(tables.MODEL_COLUMNS, tables.fusion_rows(report)))
    parts.extend(f'- {_md(note)}' for note in tables.fusion_notes(report.run.fusion))
  if report.run.join_report:
    parts.append('### Data')
    parts.append(_markdown_table(['', ''], tables.data_rows(report)))
    parts.extend(f'- {_md(note)}' for note in tables.data_notes(report))
  if report.drift:
    parts.append(f'### {tables.drift_title(report)}')
    if 'note' in report.drift:
      parts.append(_md(tables.drift_line(report)))
    else:
      parts.append(_markdown_table(tables.DRIFT_COLUMNS, tables.drift_rows(report)))
  parts.append('### Anomalies')
  parts.append('\n'.join(f'- {_md(a)}' for a in report.anomalies) or 'none')
  parts.append('### How to read this')
  parts.append('\n'.join(f'- **{_md(name)}**: {_md(meaning)}'
                         for name, meaning in tables.METRIC_GUIDE))
  return '\n\n'.join(parts) + '\n'


def render(report: ReportData, fmt: str) -> str:
  if fmt == 'html':
    return html(report)
  if fmt == 'markdown':
    return markdown(report)
  console = Console(record=True, width=100, file=io.StringIO())
  text.write(report, console)
  return console.export_text()
