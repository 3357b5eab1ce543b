"""The serving smoke test RegistryPusher runs before it pushes (docs/architecture.md §7).

A blessed model can still fail where it is served: a signature that loads only beside objects
the training process had in memory, NaN for some inputs, or scores that are not the ones the
Evaluator gated. So the fused SavedModel is loaded in a fresh Python process by its serving
signature alone (as TF Serving does: no recfusion model code, only TensorFlow and the
decision-forest ops TF Serving has built in), scores every eval example the Evaluator scored,
and must return finite numbers whose NDCG@10 per output is the Evaluator's. The same process
times the signature on whole eval requests, one call per request as a server receives them,
and the model's size on disk is summed: both go into the registry index with the version.

TFMA orders tied scores as its sort happens to leave them, so "the Evaluator's" means within
the range of NDCG@10 over every order of the ties (scores equal to a relative 1e-5: the two
processes batch differently, and float32 sums move by a few ulps with the batch).
"""
import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from recfusion import keys
from recfusion.ranking_metrics import NDCG

TIE_TOLERANCE = 1e-5
# Beyond the ties, what float64 sums of the same gains may differ by.
NDCG_SLACK = 1e-6
BATCH_SIZE = 1024
TIMEOUT_S = 600
# Requests timed one call each, after WARMUP_CALLS untimed ones (the first calls trace and
# allocate).
LATENCY_REQUESTS = 100
WARMUP_CALLS = 3
LATENCY_KEY = '__latency_ms'
CANDIDATES_KEY = '__candidates'
CHECK_FILE = 'serving_check.json'


class ServingCheckError(RuntimeError):
  """The model would be pushed broken; nothing was pushed."""


@dataclasses.dataclass(frozen=True)
class OutputCheck:
  output: str
  evaluator_ndcg10: float
  served_low: float
  served_high: float
  # > 0: a model that may rank worse than the one evaluated (the compact export), by at most
  # this much NDCG@10; better is fine. 0: the scores the Evaluator gated, within ties.
  allowed_loss: float = 0.0

  @property
  def passed(self) -> bool:
    if self.allowed_loss > 0:
      return self.served_high + NDCG_SLACK + self.allowed_loss >= self.evaluator_ndcg10
    return (self.served_low - NDCG_SLACK <= self.evaluator_ndcg10
            <= self.served_high + NDCG_SLACK)

  @property
  def loss(self) -> float:
    """How much lower the served NDCG@10 is than the Evaluator's: 0 when the Evaluator's lies
    within the served range over tie orders, negative when every order serves better."""
    if self.evaluator_ndcg10 > self.served_high:
      return self.evaluator_ndcg10 - self.served_high
    return min(0.0, self.evaluator_ndcg10 - self.served_low)

  def __str__(self) -> str:
    served = (f'{self.served_low:.6f}' if self.served_low == self.served_high
              else f'{self.served_low:.6f} to {self.served_high:.6f} (ties)')
    allowed = (f' (may be up to {self.allowed_loss:g} lower)' if self.allowed_loss > 0 else '')
    return (f'{self.output}: served NDCG@10 {served}, Evaluator {self.evaluator_ndcg10:.6f}'
            + allowed)


def non_finite(outputs: Mapping[str, np.ndarray]) -> List[str]:
  """'name: n of m' for every output holding NaN or ±inf."""
  problems = []
  for name in sorted(outputs):
    bad = int(np.count_nonzero(~np.isfinite(outputs[name])))
    if bad:
      problems.append(f'{name}: {bad} of {outputs[name].size} scores are not finite')
  return problems


def compare(request_ids: np.ndarray, gains: np.ndarray, outputs: Mapping[str, np.ndarray],
            evaluator_ndcg10: Mapping[str, float],
            allowed_loss: Optional[Mapping[str, float]] = None) -> List[OutputCheck]:
  """One check per output the Evaluator computed NDCG@10 for; an output it computed but the
  served model lacks is a served range of NaN, which fails."""
  ndcg = NDCG(request_ids, gains, 10)
  checks = []
  for name in sorted(evaluator_ndcg10):
    if name in outputs:
      low, high = ndcg.bounds(outputs[name], TIE_TOLERANCE)
    else:
      low = high = float('nan')
    checks.append(OutputCheck(name, float(evaluator_ndcg10[name]), low, high,
                              float((allowed_loss or {}).get(name, 0.0))))
  return checks


def eval_files(examples_uri: str) -> List[str]:
  from tfx.dsl.io import fileio
  files = sorted(fileio.glob(os.path.join(examples_uri, f'Split-{keys.EVAL_SPLIT}', '*')))
  if not files:
    raise ServingCheckError(f'{examples_uri}: no Split-{keys.EVAL_SPLIT} files to score')
  return files


def score_in_fresh_process(model_path: str, files: Sequence[str]) -> Dict[str, np.ndarray]:
  """{output: scores, plus request_id and gain} of every example in `files`, scored by a new
  Python process through the model's serving signature."""
  with tempfile.TemporaryDirectory() as scratch:
    out = os.path.join(scratch, 'scores.npz')
    command = [sys.executable, '-m', 'recfusion.serving_check', model_path, out, *files]
    try:
      done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
      raise ServingCheckError(f'{model_path}: scoring the eval examples through the serving '
                              f'signature took more than {TIMEOUT_S} s') from None
    if done.returncode != 0:
      # The exception's last lines: TensorFlow's C++ logging may come after them.
      tail = ' | '.join(done.stderr.strip().splitlines()[-5:]) or '(no output)'
      raise ServingCheckError(f'{model_path}: the serving signature failed in a fresh '
                              f'process: {tail}')
    with np.load(out, allow_pickle=False) as scored:
      return {name: scored[name] for name in scored.files}


def check(model_path: str, examples_uri: str, evaluator_ndcg10: Mapping[str, float],
          allowed_loss: Optional[Mapping[str, float]] = None) -> Dict[str, object]:
  """Raises ServingCheckError saying what is wrong; returns what was checked otherwise.

  `allowed_loss`: per output, how much lower than the Evaluator's its NDCG@10 may be (for a
  model that is not exactly the one evaluated, the compact export); unnamed outputs: none."""
  scored = score_in_fresh_process(model_path, eval_files(examples_uri))
  request_ids, gains = scored.pop(keys.REQUEST_ID_KEY), scored.pop(keys.LABEL_KEY)
  latency, candidates = scored.pop(LATENCY_KEY), scored.pop(CANDIDATES_KEY)
  problems = non_finite(scored)
  checks = compare(request_ids, gains, scored, evaluator_ndcg10, allowed_loss)
  problems += [f'{c} (not the scores the Evaluator gated)' for c in checks if not c.passed]
  if problems:
    raise ServingCheckError(f'{model_path}: the served model fails its smoke test, so it is '
                            'not pushed: ' + '; '.join(problems))
  return {'examples': int(len(request_ids)), 'requests': int(len(np.unique(request_ids))),
          'outputs': sorted(scored), 'ndcg@10': [str(c) for c in checks],
          'ndcg@10_loss': {c.output: round(c.loss, 6) for c in checks},
          'serving': serving_cost(model_path, latency, candidates)}


def serving_cost(model_path: str, latency_ms: np.ndarray,
                 candidates: np.ndarray) -> Dict[str, float]:
  """What the registry index keeps of a version's cost: size on disk, latency per request."""
  cost = {'size_mb': round(directory_bytes(model_path) / 2**20, 3)}
  if len(latency_ms):
    cost.update(latency_ms_p50=round(float(np.percentile(latency_ms, 50)), 3),
                latency_ms_p99=round(float(np.percentile(latency_ms, 99)), 3),
                candidates_per_request=round(float(np.mean(candidates)), 1),
                timed_requests=int(len(latency_ms)))
  return cost


def directory_bytes(path: str) -> int:
  from tfx.dsl.io import fileio
  total = 0
  for folder, _, files in fileio.walk(path):
    for name in files:
      stat = fileio.stat(os.path.join(folder, name))
      # TensorFlow's gfile reports `length`; TFX's local filesystem an os.stat_result.
      length = getattr(stat, 'length', None)
      total += length if length is not None else stat.st_size
  return total


def _score(model_path: str, out: str, files: Sequence[str]) -> None:
  """The fresh process: TensorFlow, the ops TF Serving has built in, the serving signature."""
  import tensorflow as tf
  from recfusion.models import saved_models
  saved_models.register_ops()
  serve = tf.saved_model.load(model_path).signatures[keys.SERVING_SIGNATURE]
  spec = {keys.REQUEST_ID_KEY: tf.io.FixedLenFeature([], tf.string),
          keys.LABEL_KEY: tf.io.FixedLenFeature([], tf.float32)}
  columns: Dict[str, List[np.ndarray]] = {}
  requests: Dict[bytes, List[bytes]] = {}
  dataset = tf.data.TFRecordDataset(list(files), compression_type='GZIP').batch(BATCH_SIZE)
  for batch in dataset:
    parsed = tf.io.parse_example(batch, spec)
    served = serve(examples=batch)
    for name, value in {**parsed, **served}.items():
      columns.setdefault(name, []).append(value.numpy().reshape(-1))
    # Keep the serialized examples of the first requests (one more than timed: the last one
    # kept may continue in the next batch).
    for request_id, example in zip(parsed[keys.REQUEST_ID_KEY].numpy(), batch.numpy()):
      if request_id in requests or len(requests) <= LATENCY_REQUESTS:
        requests.setdefault(request_id, []).append(example)
  timed = list(requests.values())[:LATENCY_REQUESTS]
  columns[LATENCY_KEY] = [_latency_ms(serve, timed)]
  columns[CANDIDATES_KEY] = [np.array([len(r) for r in timed], dtype=float)]
  # Request ids as fixed-width bytes: object arrays would need pickle to load.
  np.savez(out, **{name: np.concatenate(parts).astype(bytes if name == keys.REQUEST_ID_KEY
                                                    else np.float64)
                   for name, parts in columns.items()})


def _latency_ms(serve, requests: Sequence[Sequence[bytes]]) -> np.ndarray:
  import time
  import tensorflow as tf
  for examples in list(requests)[:WARMUP_CALLS]:
    serve(examples=tf.constant(examples))
  times = []
  for examples in requests:
    batch = tf.constant(examples)
    start = time.perf_counter()
    serve(examples=batch)
    times.append((time.perf_counter() - start) * 1000)
  return np.array(times)


if __name__ == '__main__':
  _score(sys.argv[1], sys.argv[2], sys.argv[3:])
  # Shutdown's collection over everything TensorFlow holds was ~1.5 s of each push's check.
  gc.freeze()
