"""`make bench-perf`: what a run costs, against the bare work it does, at 1x and 10x data.

Everything below is measured in one invocation, each DAG run in a fresh process
(tools/bench/perf_dag.py), so ratios are fair on a noisy machine:
  1. per scale (1x: the embedded shop; 10x: ten times the requests, items and users), a cold
     DAG in an empty home: seconds, peak RSS and examples/s per component;
  2. the floor: the same work bare in one process (tools/bench/perf_floor.py), DAG/floor per
     component and in total;
  3. at 1x, then: serving latency of the fused model vs its members called separately
     (tools/bench/perf_serving.py), with TF Serving's thread pools as the serving Deployment
     sets them (the target) and with TensorFlow's defaults; `recfusion run` with nothing new;
     `recfusion run` after one new span lands; forced runs (every step cached) until the home
     has 10 runs, then `recfusion runs`, `report --format text` and `lineage` on it;
     `recfusion run --quick` cold, then again after one config change (a ranker's learning
     rate);
  4. from the 1x and 10x profiles, each component's seconds and peak RSS projected to 100x
     (a fixed cost plus a cost per example, fitted through the two points);
  5. at 10x, the run's four Beam steps again on their recorded inputs with Beam's
     multi-process DirectRunner, 2 workers (tools/bench/perf_beam.py), beside their in-memory
     seconds in the DAG.
Writes bench/perf.json and bench/perf.md, with every target of the issue met or not.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from tools.bench import output

# What grows with a shop: at scale x, x times the requests, items and users of the base config
# (the embedded shop's 800 requests a day, 600 items, 500 users, unless --set says otherwise).
GROWING = ('requests_per_day', 'num_items', 'num_users')
SCALES = (1, 10)


def scaled_overrides(overrides: Sequence[str], scale: int) -> List[str]:
  from recfusion.config import load_config
  shop = load_config(overrides=list(overrides)).generate
  return [*overrides, *(f'generate.{name}={getattr(shop, name) * scale}' for name in GROWING)]


# The simulator writes one day more than the window: the newest span is held back, then added
# for the "one new span" run.
DAYS = 8
# The history commands' target is on a home with this many runs.
HISTORY_RUNS = 10


def _python(module: str, *args: str) -> List[str]:
  return [sys.executable, '-m', module, *args]


def _recfusion(*args: str) -> List[str]:
  return [os.path.join(os.path.dirname(sys.executable), 'recfusion'), *args]


def _sets(overrides: Sequence[str]) -> List[str]:
  return [arg for o in overrides for arg in ('--set', o)]


def timed_command(command: List[str], expect: str = '', timeout: float = 3600) -> Dict:
  """Wall seconds, exit code and the last lines of output of one command; `said`: whether its
  output contains `expect`."""
  started = time.monotonic()
  done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
  text = done.stdout + done.stderr
  result = {'seconds': round(time.monotonic() - started, 2), 'exit': done.returncode,
            'tail': text.strip().splitlines()[-3:]}
  if expect:
    result['said'] = expect in text
  return result


def _json_child(command: List[str], out: str) -> Dict:
  result = timed_command(command)
  if result['exit'] != 0:
    raise RuntimeError(f'{" ".join(command)} failed: {result["tail"]}')
  with open(out) as f:
    return json.load(f)


def write_shop(data_dir: str, overrides: Sequence[str]) -> str:
  """The simulated shop with its newest span held back in `<data_dir>.next-span`; returns the
  held span's folder name."""
  from recfusion.config import load_config
  from recfusion.data import simulator
  settings = load_config(overrides=[*overrides, f'generate.num_days={DAYS}']).generate
  partial = data_dir + '.partial'
  shutil.rmtree(partial, ignore_errors=True)
  simulator.generate(partial, settings)
  held = f'span-{DAYS - 1}'
  os.replace(os.path.join(partial, 'events', held), data_dir + '.next-span')
  os.replace(partial, data_dir)
  return held


def examples_per_second(component: str, seconds: float, join_report: Dict,
                        models_evaluated: int = 1) -> Optional[float]:
  """What each component works through: every example (join, Transform), the train split
  (Trainers, once per epoch not counted), validation (Fusion), eval x models (Evaluator)."""
  counts = {s: join_report.get(f'examples_{s}', 0) for s in ('train', 'validation', 'eval')}
  work = {'LogJoinExampleGen': sum(counts.values()), 'Transform': sum(counts.values()),
          'StatisticsGen': counts['train'] + counts['validation'] + counts['eval'],
          'Fusion': counts['validation'], 'Evaluator': counts['eval'] * models_evaluated}
  if component.startswith('Trainer.'):
    work[component] = counts['train']
  if component not in work or seconds <= 0:
    return None
  return round(work[component] / seconds, 1)


def component_rows(dag: Dict, floor: Dict[str, Dict]) -> List[Dict]:
  # TFMA evaluates the production model beside the candidate when there is one.
  models = 1 if dag.get('baseline_version') is None else 2
  rows = []
  for component in dag['components']:
    name, seconds = component['name'], component['seconds']
    bare = floor.get(name, {}).get('seconds')
    rows.append({'component': name, 'state': component['state'], 'seconds': seconds,
                 'peak_rss_mb': component['peak_rss_mb'], 'floor_seconds': bare,
                 'ratio': round(seconds / bare, 2) if bare else None,
                 'examples_per_s': examples_per_second(name, seconds, dag['join_report'],
                                                       models)})
  return rows


def totals(rows: List[Dict], wall: float) -> Dict:
  """DAG/floor over the components that have a floor, and the whole run's wall over the sum of
  floors (the components without one count against the DAG there)."""
  covered = [r for r in rows if r['floor_seconds']]
  floor = sum(r['floor_seconds'] for r in covered)
  dag_covered = sum(r['seconds'] for r in covered)
  return {'floor_seconds': round(floor, 1), 'dag_seconds_with_floor': round(dag_covered, 1),
          'ratio_with_floor': round(dag_covered / floor, 2) if floor else None,
          'wall_seconds': wall, 'wall_ratio': round(wall / floor, 2) if floor else None,
          'seconds_without_floor': round(sum(r['seconds'] for r in rows
                                             if not r['floor_seconds']), 1)}


def project(small: Dict[str, float], large: Dict[str, float], ratio: float,
            target: float) -> Dict[str, float]:
  """Per name, the value at `target` x from a fixed part plus a part proportional to data,
  through the values at 1x (`small`) and `ratio` x (`large`). Never below the 10x value."""
  projected = {}
  for name in small.keys() & large.keys():
    per_x = (large[name] - small[name]) / (ratio - 1)
    projected[name] = round(max(large[name], small[name] + per_x * (target - 1)), 1)
  return projected


def run_scale(root: str, scale: int, overrides: Sequence[str], log) -> Dict:
  home = os.path.abspath(os.path.join(root, f'home-{scale}x'))
  shutil.rmtree(home, ignore_errors=True)  # cold: nothing cached, no production model
  os.makedirs(home)
  all_overrides = scaled_overrides(overrides, scale)
  data_dir = os.path.join(home, 'shop')
  log(f'bench-perf {scale}x: generating the shop')
  write_shop(data_dir, all_overrides)
  dag_file = os.path.join(home, 'dag.json')
  log(f'bench-perf {scale}x: cold DAG run')
  dag = _json_child(_python('tools.bench.perf_dag', '--home', home, '--data-dir', data_dir,
                            '--out', dag_file, *_sets(all_overrides)), dag_file)
  log(f'bench-perf {scale}x: DAG {dag["wall_seconds"]} s; the floor')
  floor_file = os.path.join(home, 'floor.json')
  floor = _json_child(_python('tools.bench.perf_floor', '--dag', dag_file, '--out', floor_file,
                              *_sets(all_overrides)), floor_file)
  rows = component_rows(dag, floor)
  result = {'home': home, 'data_dir': data_dir, 'overrides': all_overrides,
            'examples': {k: v for k, v in dag['join_report'].items()
                         if k.startswith('examples_') and '_without_' not in k},
            'wall_seconds': dag['wall_seconds'], 'peak_rss_mb': dag['peak_rss_mb'],
            'components': rows, 'totals': totals(rows, dag['wall_seconds']),
            'floor': floor, 'blessed': dag['blessed'], 'pushed': dag['push'].get('pushed')}
  result['dag_file'] = dag_file
  return result


def beam_multi_processing(measured: Dict, log) -> Dict:
  """The scale's Beam steps re-run with the multi-process DirectRunner, each beside its
  seconds in the (in-memory) DAG."""
  log('bench-perf: the Beam steps again with the multi-process DirectRunner, 2 workers')
  out_file = os.path.join(measured['home'], 'beam_multi_processing.json')
  rerun = _json_child(_python('tools.bench.perf_beam', '--home', measured['home'],
                              '--out', out_file), out_file)
  in_memory = {r['component']: r['seconds'] for r in measured['components']}
  for step in rerun['steps']:
    step['in_memory_seconds'] = in_memory.get(step['component'])
  return rerun


def after_first_run(first: Dict, overrides: Sequence[str], log) -> Dict:
  """Serving, "nothing new", one new span, the history commands and --quick, on the home of
  the first (cold) run."""
  home, data_dir = first['home'], first['data_dir']
  sets = _sets(first['overrides'])
  out: Dict = {}
  log('bench-perf: serving latency')
  serving = {}
  for threads in ('deployment', 'default'):
    serving_file = os.path.join(home, f'serving-{threads}-threads.json')
    serving[threads] = _json_child(_python('tools.bench.perf_serving', '--dag', first['dag_file'],
                                           '--threads', threads, '--out', serving_file),
                                   serving_file)
  out['serving'] = {**serving['deployment'], 'tensorflow_default_threads': serving['default']}
  log('bench-perf: a run with nothing new')
  out['nothing_new'] = timed_command(_recfusion('run', '--home', home, '--data', data_dir, *sets),
                                     expect='nothing new since registry version')
  log('bench-perf: a run after one new span')
  os.replace(data_dir + '.next-span', os.path.join(data_dir, 'events', f'span-{DAYS - 1}'))
  new_span = timed_command(_recfusion('run', '--home', home, '--data', data_dir, *sets))
  out['new_span'] = {**new_span, **_latest_run_components(home)}
  log(f'bench-perf: forced runs (all cached) until the home has {HISTORY_RUNS} runs')
  out['forced_runs'] = fill_history(home, lambda: timed_command(
      _recfusion('run', '--force', '--home', home, '--data', data_dir, *sets)))
  log('bench-perf: history commands')
  out['cli'] = {name: timed_command(_recfusion(*args, '--home', home)) for name, args in {
      'runs': ['runs'], 'report_text': ['report', '--format', 'text'],
      'lineage': ['lineage', '1']}.items()}
  out['cli']['runs_in_home'] = len(os.listdir(os.path.join(home, 'runs')))
  # As a user runs it: the quick shop, not this scale's (only the bench's own --set apply).
  quick_sets = _sets(overrides)
  log('bench-perf: recfusion run --quick, cold')
  out['quick'] = timed_command(_recfusion('run', '--quick', '--home', home, *quick_sets))
  change = quick_change(overrides)
  log(f'bench-perf: recfusion run --quick again, with {change}')
  quick_again = timed_command(_recfusion('run', '--quick', '--home', home, *quick_sets,
                                         '--set', change))
  out['quick_change'] = {**quick_again, 'change': change,
                         **_latest_run_components(os.path.join(home, 'quick'))}
  return out


def fill_history(home: str, forced_run, runs: int = HISTORY_RUNS) -> List[Dict]:
  """`forced_run()` (a `run --force` on unchanged inputs: every step cached, one more run
  folder) until the home has `runs` runs; each call's timing."""
  timings = []
  runs_dir = os.path.join(home, 'runs')
  count = len(os.listdir(runs_dir))
  while count < runs:
    timings.append(forced_run())
    added = len(os.listdir(runs_dir)) - count
    if added <= 0:
      raise RuntimeError(f'a forced run added no run to {runs_dir}: {timings[-1]["tail"]}')
    count += added
  return timings


def quick_change(overrides: Sequence[str]) -> str:
  """The config change a user tries with --quick: the first ranker's learning rate doubled
  (its Trainer, Fusion and the Evaluator run again; everything before them is cached)."""
  from recfusion.config import load_config
  trainers = load_config(overrides=list(overrides)).trainers
  ranker = next(name for name, hparams in trainers.items() if 'learning_rate' in hparams)
  return f'trainers.{ranker}.learning_rate={float(trainers[ranker]["learning_rate"]) * 2:g}'


def _latest_run_components(home: str) -> Dict:
  """The newest run folder's saved summary: how many Trainers executed (not cached), what was
  pushed."""
  runs_dir = os.path.join(home, 'runs')
  latest = sorted(os.listdir(runs_dir))[-1]
  path = os.path.join(runs_dir, latest, 'summary.json')
  if not os.path.exists(path):
    return {'run_id': latest, 'summary': None}
  with open(path) as f:
    saved = json.load(f)
  states = {c['name']: c['state'] for c in saved['components']}
  return {'run_id': latest,
          'trainers_executed': sum(1 for n, s in states.items()
                                   if n.startswith('Trainer.') and s == 'complete'),
          'components': {c['name']: [c['state'], c['seconds']] for c in saved['components']},
          'pushed': saved.get('push', {}).get('pushed', False)}


def targets(result: Dict) -> List[Dict]:
  """Every target of the issue with what was measured; `met` None when it was not measured."""
  scales = result['scales']
  one, ten = scales.get('1'), scales.get('10')
  checks = []

  def check(name: str, measured, met) -> None:
    checks.append({'target': name, 'measured': measured, 'met': met})

  def evaluator_rate(scale):
    row = next((r for r in scale['components'] if r['component'] == 'Evaluator'), None)
    return row and row['examples_per_s']

  if one:
    ratio = one['totals']['wall_ratio']
    check('DAG at 1x <= 3x the floor', ratio, ratio is not None and ratio <= 3)
    rate = evaluator_rate(one)
    check('Evaluator >= 1,000 examples/s per model at 1x', rate, rate is not None and rate >= 1000)
  if ten:
    ratio = ten['totals']['wall_ratio']
    check('DAG at 10x <= 2x the floor', ratio, ratio is not None and ratio <= 2)
    rate = evaluator_rate(ten)
    check('Evaluator >= 5,000 examples/s per model at 10x', rate,
          rate is not None and rate >= 5000)
    check('peak RSS at 10x <= 4 GiB', ten['peak_rss_mb'], ten['peak_rss_mb'] <= 4096)
  if one and ten:
    growth = round(ten['wall_seconds'] / one['wall_seconds'], 2)
    check('10x data <= 8x the 1x time', growth, growth <= 8)
  serving = result.get('serving')
  if serving:
    threads = serving.get('threads')
    pools = (f' (TF Serving\'s threads as the Deployment sets them: {_pools(threads)})'
             if isinstance(threads, dict) else '')
    check(f'fused p50 <= 5 ms for 100 candidates{pools}', serving['fused']['p50_ms'],
          serving['fused']['p50_ms'] <= 5)
    check('fused p50 <= 0.6x the members called separately', serving['p50_ratio'],
          serving['p50_ratio'] <= 0.6)
  nothing = result.get('nothing_new')
  if nothing:
    check('nothing new: <= 20 s, nothing trained or pushed', nothing['seconds'],
          nothing['said'] and nothing['seconds'] <= 20)
  new_span = result.get('new_span')
  if new_span and 'trainers_executed' in new_span:
    trainers = sum(1 for name in one['dag_components'] if name.startswith('Trainer.'))
    check('one new span: each Trainer runs once', new_span['trainers_executed'],
          new_span['trainers_executed'] == trainers)
  for key, when in (('quick', 'cold, the first in its home'),
                    ('quick_change', 'again after a config change ({change})')):
    quick = result.get(key)
    if quick:
      check(f'`run --quick` {when.format(change=quick.get("change"))}: about a minute '
            '(<= 60 s)', quick['seconds'], quick['exit'] == 0 and quick['seconds'] <= 60)
  cli = result.get('cli')
  if cli:
    for name in ('runs', 'report_text', 'lineage'):
      check(f'`{name}` <= 2 s ({cli["runs_in_home"]} runs in the home)', cli[name]['seconds'],
            cli[name]['exit'] == 0 and cli[name]['seconds'] <= 2)
  return checks


def markdown(result: Dict) -> str:
  lines = [] if result.get('complete', True) else [
      f'**Incomplete**: written after {result["seconds"]:.0f} s, before every step had run.', '']
  for scale, measured in sorted(result['scales'].items(), key=lambda kv: int(kv[0])):
    examples = sum(measured['examples'].values())
    total = measured['totals']
    lines += [f'**{scale}x** ({examples:,} examples): DAG {measured["wall_seconds"]:.0f} s, '
              f'floor {total["floor_seconds"]:.0f} s (DAG/floor {total["wall_ratio"]}; '
              f'{total["ratio_with_floor"]} over the components with a floor), '
              f'peak RSS {measured["peak_rss_mb"]:.0f} MB', '',
              '| component | seconds | floor s | DAG/floor | peak RSS MB | examples/s |',
              '|---|---|---|---|---|---|']
    for row in measured['components']:
      lines.append(
          f'| {row["component"]} | {row["seconds"]:.1f} | {_cell(row["floor_seconds"])} | '
          f'{_cell(row["ratio"])} | {row["peak_rss_mb"]:.0f} | {_cell(row["examples_per_s"])} |')
    lines.append('')
    rerun = measured.get('beam_multi_processing')
    if rerun:
      lines += [f'{scale}x Beam steps re-run on the same inputs with '
                f'`{" ".join(rerun["beam_args"])}` (largest worker peak RSS '
                f'{_cell(rerun.get("workers_peak_rss_mb"))} MB):', '',
                '| component | in-memory s (DAG) | multi-process s | main process peak RSS MB |',
                '|---|---|---|---|']
      for step in rerun['steps']:
        lines.append(f'| {step["component"]} | {_cell(step["in_memory_seconds"])} | '
                     f'{_cell(step["seconds"])} | {_cell(step.get("peak_rss_mb"))} |')
      lines.append('')
  if result.get('projection'):
    lines += [f'**{result["projection"]["target"]}x projected** (a fixed cost plus a cost per '
              f'example, through {" and ".join(result["projection"]["through"])}):', '',
              '| component | seconds | peak RSS MB |', '|---|---|---|']
    seconds, rss = result['projection']['seconds'], result['projection']['peak_rss_mb']
    for name in sorted(seconds, key=lambda n: -seconds[n]):
      lines.append(f'| {name} | {seconds[name]:.0f} | {rss.get(name, 0):.0f} |')
    lines.append('')
  serving = result.get('serving')
  if serving and 'tensorflow_default_threads' in serving:
    default = serving['tensorflow_default_threads']
    lines += [f'Serving, 100 candidates, one thread calling: fused p50 '
              f'{serving["fused"]["p50_ms"]} ms (p99 {serving["fused"]["p99_ms"]}), members '
              f'separately {serving["separate"]["p50_ms"]} ms, with the Deployment\'s thread '
              f'pools ({_pools(serving["threads"])}); with TensorFlow\'s default pools fused '
              f'{default["fused"]["p50_ms"]} ms (p99 {default["fused"]["p99_ms"]}), separately '
              f'{default["separate"]["p50_ms"]} ms.', '']
  lines += ['| target | measured | met |', '|---|---|---|']
  for check in result['targets']:
    lines.append(f'| {check["target"]} | {_cell(check["measured"])} | '
                 f'{ {True: "yes", False: "**no**", None: "-"}[check["met"]] } |')
  return '\n'.join(lines) + '\n'


def _pools(threads: Dict[str, int]) -> str:
  return f'inter-op {threads["inter_op"]}, intra-op {threads["intra_op"]}'


def _cell(value) -> str:
  if value is None:
    return '-'
  return f'{value:,.1f}' if isinstance(value, float) else str(value)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='bench/perf', help='homes of the measured runs')
  parser.add_argument('--scales', nargs='+', type=int, default=list(SCALES),
                      help='data sizes to measure, as multiples of the base shop (the first '
                           'one also gets the serving, nothing-new, new-span and CLI checks)')
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--multi-processing-at', type=int, default=10, metavar='SCALE',
                      help='the scale whose Beam steps are re-run with the multi-process '
                           'DirectRunner (2 workers); 0: none')
  parser.add_argument('--out', default='bench/perf.json')
  args = parser.parse_args(argv)
  started = time.monotonic()
  log = lambda message: print(f'[{time.monotonic() - started:6.0f} s] {message}', flush=True)
  result: Dict = {'scales': {}, 'complete': False}

  def write() -> None:
    # After every stage, not only at the end: a bench of an hour or more that is cut off (a
    # machine taken back, a 10x step killed for memory) still leaves what it had measured.
    result['targets'] = targets(result)
    result['seconds'] = round(time.monotonic() - started, 1)
    output.write(result, markdown(result), args.out)

  for scale in args.scales:
    measured = run_scale(args.root, scale, args.overrides, log)
    measured['dag_components'] = [r['component'] for r in measured['components']]
    result['scales'][str(scale)] = measured
    write()
    if scale == args.multi_processing_at:
      measured['beam_multi_processing'] = beam_multi_processing(measured, log)
      write()
    if scale == args.scales[0]:
      result.update(after_first_run(measured, args.overrides, log))
      write()
  if len(args.scales) > 1:
    small, large = (result['scales'][str(s)] for s in args.scales[:2])
    ratio = args.scales[1] / args.scales[0]
    per = lambda scale, key: {r['component']: r[key] for r in scale['components']}
    result['projection'] = {
        key: project(per(small, key), per(large, key), ratio, 100 / args.scales[0])
        for key in ('seconds', 'peak_rss_mb')}
    result['projection'].update(target=100, through=[f'{s}x' for s in args.scales[:2]])
  result['complete'] = True
  write()


if __name__ == '__main__':
  main()
