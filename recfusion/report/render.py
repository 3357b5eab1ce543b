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


def chart_slices(report: ReportData) -> Optional[str]:
  names = tables.slice_order(report.slices)
  if not names:
    return None
  figure, axis = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
  positions = range(len(names))
  values = [report.slices[n].get('ndcg@10', 0.0) for n in names]
  if report.baseline_slices:
    before = [report.baseline_slices.get(n, {}).get('ndcg@10', 0.0) for n in names]
    axis.barh([p + 0.2 for p in positions], before, height=0.4, label='baseline',
              color='#b0b7c3')
    axis.barh([p - 0.2 for p in positions], values, height=0.4, label='candidate',
              color='#2b6cb0')
    axis.legend(loc='lower right')
  else:
    axis.barh(list(positions), values, height=0.6, color='#2b6cb0')
  axis.set_yticks(list(positions), names)
  axis.invert_yaxis()
  axis.set_xlabel('NDCG@10 (eval)')
  axis.set_xlim(0, 1)
  return _png(figure)


def chart_ndcg_curve(report: ReportData) -> Optional[str]:
  if not report.ndcg_curve:
    return None
  figure, axis = plt.subplots(figsize=(7, 3.2))
  ks = list(report.ndcg_curve)
  axis.plot(ks, list(report.ndcg_curve.values()), marker='o', label='candidate',
            color='#2b6cb0')
  if report.baseline_ndcg_curve:
    axis.plot(list(report.baseline_ndcg_curve), list(report.baseline_ndcg_curve.values()),
              marker='.', linestyle='--', label='baseline', color='#718096')
    axis.legend()
  axis.set_xlabel('k')
  axis.set_ylabel('NDCG@k')
  axis.set_xticks(ks)
  axis.grid(alpha=0.3)
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
  right.set_ylim(0, 1)
  return _png(figure)


# ---- formats ------------------------------------------------------------------------------

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader('recfusion.report', 'templates'),
    autoescape=jinja2.select_autoescape(['html', 'j2']))


def html(report: ReportData) -> str:
  charts = {'slices': chart_slices(report), 'ndcg_curve': chart_ndcg_curve(report),
            'calibration': chart_calibration(report), 'fusion': chart_fusion(report)}
  return _TEMPLATE.get_template('report.html.j2').render(
      report=report, run=report.run, verdict=tables.verdict_line(report),
      thresholds=tables.threshold_rows(report), checks=tables.check_rows(report),
      baseline=tables.baseline_title(report),
      headline=tables.headline_rows(report), slices=tables.slice_rows(report),
      diversity=tables.diversity_rows(report), diversity_columns=tables.DIVERSITY_COLUMNS,
      slice_columns=[label for _, label in tables.SLICE_COLUMNS],
      fusion=tables.fusion_rows(report), model_columns=tables.MODEL_COLUMNS,
      fusion_notes=tables.fusion_notes(report.run.fusion),
      data=tables.data_rows(report), charts=charts,
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
  parts.append(_markdown_table(['slice'] + [label for _, label in tables.SLICE_COLUMNS],
                               tables.slice_rows(report)))
  if report.run.fusion:
    parts.append(f'### Fusion ({report.run.fusion.get("method")})')
    parts.append(_markdown_table(tables.MODEL_COLUMNS, tables.fusion_rows(report)))
    parts.extend(f'- {_md(note)}' for note in tables.fusion_notes(report.run.fusion))
  if report.run.join_report:
    parts.append('### Data')
    parts.append(_markdown_table(['', ''], tables.data_rows(report)))
    parts.extend(f'- {_md(note)}' for note in tables.data_notes(report))
  parts.append('### Anomalies')
  parts.append('\n'.join(f'- {_md(a)}' for a in report.anomalies) or 'none')
  return '\n\n'.join(parts) + '\n'


def render(report: ReportData, fmt: str) -> str:
  if fmt == 'html':
    return html(report)
  if fmt == 'markdown':
    return markdown(report)
  console = Console(record=True, width=100, file=io.StringIO())
  text.write(report, console)
  return console.export_text()
