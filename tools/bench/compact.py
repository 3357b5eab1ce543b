"""`make bench-compact`: what the compact export costs in NDCG@10 and gains in size and latency.

One pipeline run on the embedded shop (cached when it already ran in this home) gives the
rankers, the Transform graph and the examples. For each fusion method asked, the fusion is
fitted on `validation` exactly as the Fusion component fits it, and the full fused model and
one compact export per threshold (`fusion.compact.prune_below`) are built with the Fusion
executor's own code. Each model is then served as RegistryPusher's smoke test serves it: a
fresh process, the serving signature, every eval example, and one call per request for the
first 100 requests (p50/p99). All models are measured in this one run, side by side, so the
latency ratios are fair on a noisy machine; the absolute milliseconds are not portable.
Writes bench/compact.json and bench/compact.md.
"""
import argparse
import os
import time
from typing import Dict, List, Sequence


from recfusion import keys, serving_check
from tools.bench import output
from recfusion.ranking_metrics import NDCG


def measure(model_path: str, files: Sequence[str]) -> Dict[str, float]:
  """NDCG@10 of `score` on eval (ties broken by the served order's midpoint) and the serving
  cost, as the smoke test measures it."""
  scored = serving_check.score_in_fresh_process(model_path, files)
  ndcg = NDCG(scored[keys.REQUEST_ID_KEY], scored[keys.LABEL_KEY], 10)
  low, high = ndcg.bounds(scored[keys.SCORE_KEY], serving_check.TIE_TOLERANCE)
  cost = serving_check.serving_cost(model_path, scored[serving_check.LATENCY_KEY],
                                    scored[serving_check.CANDIDATES_KEY])
  return {'ndcg@10': round((low + high) / 2, 5), **cost}


def compare(full: Dict[str, float], compact: Dict[str, float]) -> Dict[str, float]:
  return {'ndcg@10_change': round(compact['ndcg@10'] - full['ndcg@10'], 5),
          'size_ratio': round(compact['size_mb'] / full['size_mb'], 3),
          'latency_p50_ratio': round(compact['latency_ms_p50'] / full['latency_ms_p50'], 3)}


def run(home: str, methods: Sequence[str], thresholds: Sequence[float],
        overrides: Sequence[str] = ()) -> Dict:
  import tensorflow_transform as tft
  from recfusion.components.fusion import executor as fusion_executor
  from recfusion.config import load_config
  from recfusion.home import RunHome
  from recfusion.models import training
  from recfusion.models.fusion import fitting, fused_model
  from recfusion.models.fusion.scoring import score_split
  from recfusion.pipeline.local_runner import generated_data, run_pipeline
  from recfusion.runs.summary import summarize_run

  started = time.monotonic()
  config = load_config(overrides=list(overrides))
  run_home = RunHome(os.path.abspath(home))
  data_dir = generated_data(config, run_home, print)
  result = run_pipeline(config, run_home, data_dir)
  summary = summarize_run(run_home.metadata_path, config.pipeline.name, result.run_id)
  outputs = {c.name: c.outputs for c in summary.components}
  tft_output = tft.TFTransformOutput(outputs['Transform']['transform_graph'][0])
  all_dirs = {name: os.path.join(outputs[f'Trainer.{name}']['model'][0], 'Format-Serving')
              for name in config.trainers}
  infos = {name: training.read_ranker_info(path) for name, path in all_dirs.items()}
  dropped = sorted(name for name, info in infos.items() if not info.get('trained', True))
  ranker_dirs = {n: d for n, d in all_dirs.items() if n not in dropped}
  validation = score_split(os.path.join(outputs['Transform']['transformed_examples'][0],
                                        f'Split-{keys.FUSION_SPLIT}'), tft_output, ranker_dirs)
  files = serving_check.eval_files(outputs['LogJoinExampleGen']['examples'][0])
  models_dir = os.path.join(run_home.root, 'bench-compact-models')
  rows: List[Dict] = []
  for method in methods:
    fitted = fitting.fit(validation, sorted(ranker_dirs), method, config.fusion.grid_step)
    full_dir = os.path.join(models_dir, method, 'full')
    fused_model.save(fusion_executor.fused_ranker(tft_output, ranker_dirs, fitted, dropped),
                     full_dir)
    full = measure(full_dir, files)
    print(f'bench: {method} ({fitted.report["method"]}) full: {full}', flush=True)
    weights = {n: round(w, 4) for n, w in fitted.fusion.mean_weights.items()}
    for threshold in thresholds:
      folder = os.path.join(models_dir, method, f'prune-{threshold:g}')
      info = fusion_executor.export_compact(threshold, folder, tft_output, ranker_dirs,
                                            fitted, dropped)
      row = {'method': method, 'fitted': fitted.report['method'], 'weights': weights,
             'prune_below': threshold, 'pruned': sorted(info['pruned']), 'full': full}
      if info.get('path'):
        row['compact'] = measure(os.path.join(folder, info['path']), files)
        row.update(compare(full, row['compact']))
      print(f'bench: {method} prune_below {threshold:g}: {row}', flush=True)
      rows.append(row)
  return {'run_id': result.run_id, 'eval_files': len(files), 'rows': rows,
          'seconds': round(time.monotonic() - started, 1)}


def markdown(result: Dict) -> str:
  lines = ['| fusion (fitted) | prune_below | pruned | NDCG@10 full | change | MB full | '
           'MB compact | p50 ms full | p50 ms compact | p50 ratio |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for row in result['rows']:
    full, small = row['full'], row.get('compact')
    if small is None:
      lines.append(f'| {row["method"]} ({row["fitted"]}) | {row["prune_below"]:g} | none | '
                   f'{full["ndcg@10"]:.4f} | - | {full["size_mb"]:.1f} | - | '
                   f'{full["latency_ms_p50"]:.2f} | - | - |')
      continue
    lines.append(
        f'| {row["method"]} ({row["fitted"]}) | {row["prune_below"]:g} | '
        f'{", ".join(row["pruned"])} | {full["ndcg@10"]:.4f} | {row["ndcg@10_change"]:+.4f} | '
        f'{full["size_mb"]:.1f} | {small["size_mb"]:.1f} | {full["latency_ms_p50"]:.2f} | '
        f'{small["latency_ms_p50"]:.2f} | {row["latency_p50_ratio"]:.2f} |')
  return '\n'.join(lines) + '\n'


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--home', default='bench/compact-home')
  parser.add_argument('--methods', nargs='+', default=['auto', 'weighted'])
  parser.add_argument('--prune', nargs='+', type=float, default=[0.0, 0.1, 0.25])
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--out', default='bench/compact.json')
  args = parser.parse_args(argv)
  result = run(args.home, args.methods, args.prune, args.overrides)
  output.write(result, markdown(result), args.out)


if __name__ == '__main__':
  main()
