"""Serving latency of the fused model against its members called one by one.

One thread, requests of 100 candidates (serialized raw eval examples, as a server receives
them): the fused SavedModel's serving signature, versus loading every member's own serving
model and combining their scores in Python with the fitted weights, which is what a shop would
build without Fusion. Both are timed in this one process, alternating request by request, so
the ratio is fair on a noisy machine. Run by tools/bench/perf.py in a process of its own, once
with the thread pools the serving Deployment gives TF Serving (kubernetes/base/serving.yaml)
and once with TensorFlow's defaults: a process sets its pools once, before its first op.
"""
import argparse
import json
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

CANDIDATES = 100
DEPLOYMENT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'kubernetes', 'base', 'serving.yaml')
THREAD_FLAGS = {'inter_op': '--tensorflow_inter_op_parallelism',
                'intra_op': '--tensorflow_intra_op_parallelism'}


def deployment_threads(path: str = DEPLOYMENT) -> Dict[str, int]:
  """The inter-op and intra-op thread counts the serving Deployment passes TF Serving."""
  import yaml
  with open(path) as f:
    deployment = next(d for d in yaml.safe_load_all(f) if d and d['kind'] == 'Deployment')
  args = dict(a.split('=', 1) for a in deployment['spec']['template']['spec']['containers'][0]
              ['args'] if '=' in a)
  missing = [flag for flag in THREAD_FLAGS.values() if flag not in args]
  if missing:
    raise ValueError(f'{path}: the serving container sets no {", ".join(missing)}')
  return {name: int(args[flag]) for name, flag in THREAD_FLAGS.items()}


def percentiles(latencies_ms: Sequence[float]) -> Dict[str, float]:
  values = np.asarray(latencies_ms, dtype=float)
  return {'p50_ms': round(float(np.percentile(values, 50)), 3),
          'p99_ms': round(float(np.percentile(values, 99)), 3)}


def alternate(calls: Dict[str, Callable[[List[bytes]], object]], requests: List[List[bytes]],
              warmup: int = 5) -> Dict[str, Dict[str, float]]:
  """Each call on each request, in turn, after `warmup` untimed requests; p50/p99 per call."""
  for request in requests[:warmup]:
    for call in calls.values():
      call(request)
  timings: Dict[str, List[float]] = {name: [] for name in calls}
  for request in requests[warmup:]:
    for name, call in calls.items():
      started = time.perf_counter()
      call(request)
      timings[name].append((time.perf_counter() - started) * 1000)
  return {name: percentiles(values) for name, values in timings.items()}


def batches(examples: List[bytes], size: int, count: int) -> List[List[bytes]]:
  """`count` requests of `size` consecutive examples, wrapping around the examples."""
  if not examples:
    raise ValueError('no eval examples to build requests from')
  return [[examples[(start * size + i) % len(examples)] for i in range(size)]
          for start in range(count)]


def measure(fused_dir: str, ranker_dirs: Dict[str, str], weights: Dict[str, float],
            eval_dir: str, requests: int = 300, threads: Optional[Dict[str, int]] = None) -> Dict:
  """`threads`: inter_op and intra_op pool sizes; None keeps TensorFlow's (the machine's cores)."""
  import tensorflow as tf
  if threads:
    tf.config.threading.set_inter_op_parallelism_threads(threads['inter_op'])
    tf.config.threading.set_intra_op_parallelism_threads(threads['intra_op'])
  from recfusion import keys
  from recfusion.models import saved_models
  saved_models.register_ops()
  files = sorted(tf.io.gfile.glob(os.path.join(eval_dir, '*.gz')))
  examples = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')
              .take(CANDIDATES * 50)]
  fused = saved_models.load(fused_dir).signatures[keys.SERVING_SIGNATURE]
  members = {name: saved_models.load(path).signatures[keys.SERVING_SIGNATURE]
             for name, path in ranker_dirs.items()}

  def separate(request):
    batch = tf.constant(request)
    scores = {name: np.asarray(serve(examples=batch)[keys.SCORE_KEY]).reshape(-1)
              for name, serve in members.items()}
    # Standardized per request and weighted: the simplest fusion a user would write.
    return sum(weights.get(name, 0.0) * (s - s.mean()) / (s.std() + 1e-9)
               for name, s in scores.items())

  timed = alternate({'fused': lambda request: fused(examples=tf.constant(request)),
                     'separate': separate}, batches(examples, CANDIDATES, requests))
  return {'candidates': CANDIDATES, 'requests': requests, 'members': sorted(members),
          'threads': threads or 'tensorflow defaults', **timed,
          'p50_ratio': round(timed['fused']['p50_ms'] / timed['separate']['p50_ms'], 3)}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--dag', required=True, help="perf_dag's JSON of a finished run")
  parser.add_argument('--out', required=True)
  parser.add_argument('--threads', choices=('deployment', 'default'), default='deployment',
                      help="TF's thread pools: as the serving Deployment sets them, or TF's own")
  args = parser.parse_args(argv)
  with open(args.dag) as f:
    dag = json.load(f)
  outputs = dag['outputs']
  fusion_report = os.path.join(outputs['Fusion']['fusion_report'][0], 'fusion_report.json')
  with open(fusion_report) as f:
    report = json.load(f)
  rankers = {name[len('Trainer.'):]: os.path.join(out['model'][0], 'Format-Serving')
             for name, out in outputs.items() if name.startswith('Trainer.')}
  rankers = {n: d for n, d in rankers.items() if n not in report.get('dropped', {})}
  result = measure(os.path.join(outputs['Fusion']['model'][0], 'Format-Serving'), rankers,
                   # Each member's mean weight (gated fusion's vary by request context).
                   {n: float(h['weight']) for n, h in report['member_health'].items()},
                   os.path.join(outputs['LogJoinExampleGen']['examples'][0], 'Split-eval'),
                   threads=deployment_threads() if args.threads == 'deployment' else None)
  with open(args.out, 'w') as f:
    json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
