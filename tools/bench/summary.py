"""One table over every benchmark of `make bench-quality`: each simulator profile and the real set.

Reads the bench/quality-<name>.json files that tools/bench/quality.py wrote and writes
bench/quality.md (the README's table): per data set, the baselines (popularity, BM25 on
search, user-category affinity on recommendations, LightGBM LambdaMART), every ranker, every
fusion method and `auto` (what the pipeline ships), with the targets of each.
"""
import argparse
import json
import os
from typing import Dict, List

BASELINES = ('oracle', 'popularity', 'bm25', 'category_affinity', 'lightgbm_lambdamart')
RANKERS = ('text', 'dcn', 'sequence', 'gbt')
FUSIONS = ('fusion_weighted', 'fusion_gated', 'fusion_stacking', 'fusion_auto')


def _cell(row: Dict[str, float]) -> str:
  """The row's overall NDCG@10, or the one request type it is defined on (BM25: search)."""
  for kind in ('overall', 'search', 'recommend'):
    if kind in row:
      return f'{row[kind]:.4f}' + ('' if kind == 'overall' else f' ({kind})')
  return '-'


def table(results: Dict[str, Dict]) -> str:
  names = list(results)
  lines = ['| model | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
  for model in BASELINES + RANKERS + FUSIONS:
    if not any(model in r['ndcg@10'] or model in r.get('dropped_rankers', {})
               for r in results.values()):
      continue
    cells = []
    for name in names:
      result = results[name]
      if model in result['ndcg@10']:
        cells.append(_cell(result['ndcg@10'][model]))
      elif model in result.get('dropped_rankers', {}):
        cells.append('left out')
      else:
        cells.append('-')
    label = f'**{model}** (shipped)' if model == 'fusion_auto' else model
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
  lines.append('| best member | ' + ' | '.join(
      results[n]['best_single_model'] for n in names) + ' |')
  lines.append('| auto − best member (eval) | ' + ' | '.join(
      f'{results[n]["targets"]["auto_minus_best_single_ndcg@10"]:+.4f}' for n in names) + ' |')
  lines.append('| auto ≥ best member on validation, every seed | ' + ' | '.join(
      str(all(results[n]['targets'].get('auto_at_least_best_member_on_validation', [])))
      for n in names) + ' |')
  lines.append('| auto − LightGBM | ' + ' | '.join(
      f'{results[n]["ndcg@10"]["fusion_auto"]["overall"] - results[n]["ndcg@10"]["lightgbm_lambdamart"]["overall"]:+.4f}'
      for n in names) + ' |')
  for target, label, sign in (
      ('auto_minus_bm25_search', 'auto − BM25 (search)', '+'),
      ('bm25_plus_20pct_headroom_search', 'target: BM25 + 20% of its headroom (search)', ''),
      ('sequence_minus_category_affinity', 'sequence − affinity (recommend)', '+')):
    if any(target in results[n]['targets'] for n in names):
      lines.append(f'| {label} | ' + ' | '.join(
          f'{results[n]["targets"][target]:{sign}.4f}' if target in results[n]['targets']
          else '-' for n in names) + ' |')
  lines.append('| eval examples | ' + ' | '.join(
      str(results[n]['data']['examples']['eval']) for n in names) + ' |')
  lines.append('| seeds | ' + ' | '.join(str(results[n]['seeds']) for n in names) + ' |')
  return '\n'.join(lines) + '\n'


def main(argv: List[str] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('inputs', nargs='+', metavar='NAME=FILE',
                      help='a column name and the quality JSON it shows')
  parser.add_argument('--out', default='bench/quality.md')
  args = parser.parse_args(argv)
  results = {}
  for item in args.inputs:
    name, path = item.split('=', 1)
    if not os.path.exists(path):
      print(f'bench summary: {path} is missing (its benchmark failed?): column left out')
      continue
    with open(path) as f:
      results[name] = json.load(f)
  text = table(results)
  with open(args.out, 'w') as f:
    f.write(text)
  with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
    json.dump(results, f, indent=2, sort_keys=True)
  print(text)


if __name__ == '__main__':
  main()
