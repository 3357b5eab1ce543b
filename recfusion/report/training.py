"""What each Trainer did, from its ModelRun artifact: where it started (warm_start.json) and
its per-epoch loss and AUC on train and validation (the Keras TensorBoard logs), so a reviewer
sees over- or under-fitting without opening TensorBoard."""
import json
import os
from typing import Dict, List, Mapping

import tensorflow as tf

# Keras's TensorBoard callback: one folder per split, one `epoch_<metric>` scalar per epoch.
_SPLIT_PREFIX = {'train': '', 'validation': 'val_'}
_METRICS = ('loss', 'auc')


def _scalars(folder: str) -> Dict[int, Dict[str, float]]:
  """{epoch: {metric: value}} from the event files of one split's folder."""
  by_epoch: Dict[int, Dict[str, float]] = {}
  for path in sorted(tf.io.gfile.glob(os.path.join(folder, 'events.out.tfevents.*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if not value.tag.startswith('epoch_'):
          continue
        number = (float(tf.make_ndarray(value.tensor)) if value.HasField('tensor')
                  else float(value.simple_value))
        by_epoch.setdefault(int(event.step), {})[value.tag[len('epoch_'):]] = number
  return by_epoch


def epochs(model_run_dir: str) -> List[Dict[str, float]]:
  """One row per epoch: `loss`, `auc`, `val_loss`, `val_auc` (those logged)."""
  rows: Dict[int, Dict[str, float]] = {}
  for split, prefix in _SPLIT_PREFIX.items():
    for epoch, metrics in _scalars(os.path.join(model_run_dir, split)).items():
      row = rows.setdefault(epoch, {'epoch': epoch + 1})
      row.update({prefix + name: round(value, 5) for name, value in metrics.items()
                  if name in _METRICS})
  return [rows[epoch] for epoch in sorted(rows)]


def warm_start(model_run_dir: str) -> Dict:
  path = os.path.join(model_run_dir, 'warm_start.json')
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return json.loads(f.read())


def trainers(outputs: Mapping[str, Mapping[str, List[str]]]) -> Dict[str, Dict]:
  """{ranker: {'warm_start', 'epochs', 'logdir'}} for every Trainer.<ranker> with a ModelRun."""
  out = {}
  for component, produced in sorted(outputs.items()):
    runs = produced.get('model_run') or []
    if not component.startswith('Trainer.') or not runs:
      continue
    out[component[len('Trainer.'):]] = {'warm_start': warm_start(runs[0]),
                                        'epochs': epochs(runs[0]), 'logdir': runs[0]}
  return out
