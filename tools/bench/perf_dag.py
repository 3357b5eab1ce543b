"""One DAG run measured per component: seconds, peak RSS, cached or executed.

Run by tools/bench/perf.py in a process of its own (`python -m tools.bench.perf_dag`), so each
run's memory starts from a bare interpreter and one scale's peak never hides in the next. The
local runner executes every component in this process (Beam's in-memory DirectRunner, TFMA,
the Trainers), so this process's peak RSS while a component runs is that component's.
"""
import argparse
import json
import re
import resource
import time
from typing import Dict, List, Optional

_HWM = re.compile(r'VmHWM:\s+(\d+) kB')


def peak_rss_mb() -> float:
  """The peak resident set of this process since the last `reset_peak_rss` (Linux)."""
  with open('/proc/self/status') as f:
    return int(_HWM.search(f.read()).group(1)) / 1024


def reset_peak_rss() -> None:
  """Starts a new peak: writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+)."""
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')


class ComponentMeter:
  """A progress callback of the local runner that keeps each component's seconds and peak
  RSS; `read_peak` and `reset` are the process's meter (replaced in tests)."""

  def __init__(self, read_peak=peak_rss_mb, reset=reset_peak_rss):
    self._read_peak, self._reset = read_peak, reset
    self.components: List[Dict] = []

  def __call__(self, event) -> None:
    if event.event == 'running':
      self._reset()
    elif event.event in ('finished', 'failed'):
      self.components.append({'name': event.component, 'seconds': round(event.seconds or 0, 2),
                              'peak_rss_mb': round(self._read_peak(), 1),
                              'failed': event.event == 'failed'})


def whole_run_peak_mb(components: List[Dict]) -> float:
  """The run's peak: the largest component's. Not ru_maxrss alone: the kernel folds each
  reset's high-water mark away (clear_refs), so after the meter's resets ru_maxrss is only the
  peak since the last component began (3,882 MB at 10x where the Evaluator had reached 5,254)."""
  since_last_reset = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
  return round(max([since_last_reset, *(c['peak_rss_mb'] for c in components)]), 1)


def measure_run(home: str, overrides: List[str], data_dir: Optional[str] = None) -> Dict:
  from recfusion.config import load_config
  from recfusion.home import RunHome
  from recfusion.pipeline.local_runner import generated_data, run_pipeline
  from recfusion.runs.summary import save as save_summary, summarize_run

  config = load_config(overrides=overrides)
  run_home = RunHome(home)
  data_dir = data_dir or generated_data(config, run_home, print)
  meter = ComponentMeter()
  started = time.monotonic()
  result = run_pipeline(config, run_home, data_dir, progress=meter)
  wall = time.monotonic() - started
  summary = summarize_run(run_home.metadata_path, config.pipeline.name, result.run_id,
                          durations=result.durations)
  # What `recfusion run` keeps at a run's end: without it `recfusion runs` would call this
  # finished run abandoned.
  save_summary(summary, result.run_dir, wall)
  states = {c.name: c.state for c in summary.components}
  for component in meter.components:
    component['state'] = states.get(component['name'], 'unknown')
  return {'run_id': result.run_id, 'data_dir': data_dir, 'wall_seconds': round(wall, 1),
          'peak_rss_mb': whole_run_peak_mb(meter.components),
          'components': meter.components, 'join_report': summary.join_report,
          'blessed': summary.blessed, 'push': summary.push,
          'baseline_version': summary.baseline_version,
          'ndcg10': summary.ndcg10, 'outputs': {c.name: c.outputs for c in summary.components}}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--home', required=True)
  parser.add_argument('--data-dir')
  parser.add_argument('--set', dest='overrides', action='append', default=[])
  parser.add_argument('--out', required=True)
  args = parser.parse_args(argv)
  result = measure_run(args.home, args.overrides, args.data_dir)
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
