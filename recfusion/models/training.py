"""What the three rankers share: reading Transform output, training, and the exported signatures.

Every ranker is a tf_keras model over a dict of transformed features that returns one score
per example. It is exported as a SavedModel with two signatures:
  serving_default       serialized raw tf.Example -> {'score'}; the Transform graph is inside
  transformed_features  transformed feature tensors -> {'score'}; Fusion composes these
`position` is never a model input (Transform does not even output it), and the raw `gain` and
`position` features are dropped from the serving parse spec: serving requests have neither.
"""
import dataclasses
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
import tf_keras as keras

from recfusion import features, keys
from recfusion.models import autograph_rules, losses, saved_models, warm_start

autograph_rules.leave_keras_unconverted()

NOT_MODEL_INPUTS = (keys.LABEL_KEY, keys.ENGAGED_KEY, keys.REQUEST_ID_KEY)
EMBEDDING_SEPARATOR = '__'



@dataclasses.dataclass(frozen=True)
class HParams:
  """Hyperparameters: `trainers.<name>` of the run config, whose defaults (defaults.yaml) are
  the only ones; none are repeated here."""
  epochs: int
  batch_size: int
  learning_rate: float
  embedding_dim: int
  hidden_units: int
  patience: int
  seed: int  # weights and shuffling: the same data and config train the same model
  loss: str  # pointwise | pairwise | listwise (losses.py)
  # L2 on the embedding rows a batch uses: ids seen rarely must not memorize click noise.
  embedding_l2: float
  dropout: float  # after each hidden layer of the scoring network
  # Continue from the production model's weights when its architecture matches.
  warm_start: bool

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'HParams':
    return hparams_from_config(cls, config)


def hparams_from_config(cls, config: Mapping[str, Any]):
  """A ranker's hyperparameters (a dataclass) from its `trainers.<name>` section; keys that
  are not hyperparameters (the ranker's name and module) are ignored, a missing one is an
  error naming it."""
  fields = [f.name for f in dataclasses.fields(cls)]
  missing = [name for name in fields if name not in config]
  if missing:
    raise ValueError(f'trainer config lacks {", ".join(missing)}')
  return cls(**{name: config[name] for name in fields})


@dataclasses.dataclass(frozen=True)
class Vocabularies:
  """Entries per vocabulary (features.VOCABULARIES); embedding tables also need the padding
  and unknown ids each vocabulary's lookups add."""
  entries: Mapping[str, int]

  def size(self, vocabulary: features.Vocabulary) -> int:
    return self.entries[vocabulary.name] + vocabulary.extra_ids

  @classmethod
  def from_transform(cls, tft_output: tft.TFTransformOutput) -> 'Vocabularies':
    return cls({name: tft_output.vocabulary_size_by_name(name)
                for name in features.VOCABULARIES})


def feature_inputs(tft_output: tft.TFTransformOutput) -> Dict[str, keras.Input]:
  """One keras.Input per transformed model feature, shaped as Transform writes it."""
  inputs = {}
  for name, spec in sorted(tft_output.transformed_feature_spec().items()):
    if name in NOT_MODEL_INPUTS:
      continue
    inputs[name] = keras.Input(shape=tuple(spec.shape), dtype=spec.dtype, name=name)
  return inputs


def embedding(vocabulary: features.Vocabulary, vocabularies: Vocabularies, dim: int,
              role: str, hp: HParams) -> keras.layers.Layer:
  """An embedding table over one vocabulary's ids.

  Its layer is named `<role>__<vocabulary>`: warm start reads the vocabulary from the name to
  move each row to its value's new id.
  """
  return keras.layers.Embedding(
      vocabularies.size(vocabulary), dim, name=f'{role}{EMBEDDING_SEPARATOR}{vocabulary.name}',
      activity_regularizer=(keras.regularizers.l2(hp.embedding_l2) if hp.embedding_l2 else None))


def feature_embedding(feature: str, vocabularies: Vocabularies, dim: int,
                      hp: HParams) -> keras.layers.Layer:
  """The embedding table of one id feature of the catalogue."""
  return embedding(features.vocabulary_of(feature), vocabularies, dim, f'{feature}_embedding', hp)


def hidden_layers(x: tf.Tensor, widths: List[int], hp: HParams) -> tf.Tensor:
  """ReLU layers, each followed by dropout: the rankers overfit click noise within an epoch
  or two without it."""
  for width in widths:
    x = keras.layers.Dense(width, activation='relu')(x)
    if hp.dropout:
      x = keras.layers.Dropout(hp.dropout, seed=hp.seed)(x)
  return x


def pooled(embeddings: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
  """Mean of the embeddings of non-padding ids (id 0 is padding)."""
  mask = tf.cast(tf.not_equal(ids, 0), embeddings.dtype)[..., None]
  return tf.math.divide_no_nan(tf.reduce_sum(embeddings * mask, axis=-2),
                               tf.reduce_sum(mask, axis=-2))


def scalar(inputs: Mapping[str, tf.Tensor], name: str) -> tf.Tensor:
  return tf.reshape(tf.cast(inputs[name], tf.float32), [-1, 1])


def transformed_dataset(file_patterns: List[str], tft_output: tft.TFTransformOutput,
                        batch_size: int, shuffle: bool = False, repeat: bool = False,
                        keep: Optional[List[str]] = None,
                        seed: int = 13) -> tf.data.Dataset:
  """(features, label) batches from Transform's gzipped TFRecords.

  label is [batch, 2]: graded gain and request key (losses.py). Batches are cut in file order,
  where a request's candidates are adjacent, and shuffled whole, so the ranking losses see
  whole requests.
  """
  files = sorted(f for pattern in file_patterns
                 for f in tf.io.gfile.glob(pattern if any(c in pattern for c in '*?[')
                                    else os.path.join(pattern, '*')))
  if not files:
    raise FileNotFoundError(f'no transformed examples in {file_patterns}')
  spec = tft_output.transformed_feature_spec()
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(batch_size)
  if shuffle:
    dataset = dataset.shuffle(2_000, seed=seed, reshuffle_each_iteration=True)
  dataset = dataset.map(lambda x: tf.io.parse_example(x, spec),
                        num_parallel_calls=tf.data.AUTOTUNE)

  def split_label(features):
    label = tf.stack([tf.reshape(features[keys.LABEL_KEY], [-1]),
                      losses.request_key(features[keys.REQUEST_ID_KEY])], axis=1)
    wanted = keep if keep is not None else [k for k in features if k not in NOT_MODEL_INPUTS]
    return {k: features[k] for k in wanted}, label

  dataset = dataset.map(split_label)
  if repeat:
    dataset = dataset.repeat()
  return without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """`dataset` with tf.data's autotuning off: the Trainers' datasets, which Keras fits on.

  Autotuning gives each iterator a model thread that sleeps between optimizations, its sleep
  doubling up to a minute. Keras leaves each epoch's iterators in reference cycles, and freeing
  one from Python's garbage collector was seen to wait for that thread: gdb showed the 10x
  bench's sequence Trainer sitting 1 min 55 s after its last epoch in `~RootDataset::Iterator`
  while its model thread was in `Model::OptimizeLoop`'s timed wait; a bare iterator freed so
  after 33-75 s of use waited up to 8.1 s autotuned and 0.2 s untuned. Untuned, AUTOTUNE
  parallelism is the size of tf.data's thread pool (the schedulable cores, at most 16) and
  prefetch buffers tune themselves; a 10x epoch reads as fast (1.9 s vs 2.1-2.6 s) and yields
  the same batches in the same order."""
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)


class EngagementAUC(keras.metrics.AUC):
  """ROC AUC of the score for engaged (gain > 0) vs not, from the [gain, request key] label."""

  def __init__(self, name='auc', **kwargs):
    kwargs.pop('from_logits', None)
    super().__init__(name=name, from_logits=True, **kwargs)

  def update_state(self, y_true, y_pred, sample_weight=None):
    engaged = tf.cast(tf.reshape(y_true, [-1, 2])[:, :1] > 0, tf.float32)
    return super().update_state(engaged, y_pred, sample_weight)


def distribution_strategy() -> tf.distribute.Strategy:
  """MirroredStrategy over all GPUs when there are any; the default strategy on CPU."""
  if tf.config.list_physical_devices('GPU'):
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def export(model: keras.Model, tft_output: tft.TFTransformOutput, serving_dir: str,
           input_specs: Optional[Mapping[str, tf.TensorSpec]] = None) -> None:
  """`input_specs`: the transformed features the model reads; by default its keras Inputs
  (a subclassed model such as a TF-DF forest has none and names them)."""
  # The model tracks the Transform graph's state, not TFT's layer: the layer would write the
  # graph a second time into the SavedModel (saved_models.transform_state), which Fusion, the
  # serving check and serving read back for nothing.
  raw = saved_models.raw_transform(tft_output)
  model.transform_state = raw.state
  specs = dict(input_specs) if input_specs is not None else {
      name: tf.TensorSpec([None] + list(inp.shape[1:]), inp.dtype, name=name)
      for name, inp in zip(model.input_names, model.inputs)}

  @tf.function(input_signature=[saved_models.SERIALIZED_EXAMPLES])
  def serve(serialized):
    transformed = raw.apply(serialized)
    features = {name: transformed[name] for name in specs}
    return {keys.SCORE_KEY: tf.reshape(model(features), [-1])}

  @tf.function
  def on_transformed(**features):
    return {keys.SCORE_KEY: tf.reshape(model(features), [-1])}

  # No per-layer traces: nothing revives the rankers as Keras objects (Fusion, warm start and
  # serving call the two signatures), and tracing every layer's call for the SavedModel was
  # 5-7 s of each export (dcn 24 -> 17 s, gbt 21 -> 16 s; identical scores).
  # Traced here, not inside `model.save`: TensorFlow keys traces by the save context, and a
  # trace made inside it would not be reused by the next one made outside it (Fusion's), so
  # the shared Transform function would be traced twice per process.
  model.save(serving_dir, save_format='tf', save_traces=False, signatures={
      keys.SERVING_SIGNATURE: serve.get_concrete_function(),
      keys.TRANSFORMED_SIGNATURE: on_transformed.get_concrete_function(**specs)})


def varying_features(file_patterns: List[str], tft_output: tft.TFTransformOutput,
                     names: Sequence[str], max_rows: int = 50_000) -> List[str]:
  """The `names` whose values are not all the same in the first `max_rows` rows."""
  low: Dict[str, float] = {}
  high: Dict[str, float] = {}
  rows = 0
  for features_batch, _ in transformed_dataset(file_patterns, tft_output, 4096,
                                               keep=list(names)):
    for name in names:
      values = tf.cast(features_batch[name], tf.float64)
      low[name] = min(low.get(name, float('inf')), float(tf.reduce_min(values)))
      high[name] = max(high.get(name, float('-inf')), float(tf.reduce_max(values)))
    rows += int(tf.shape(features_batch[names[0]])[0])
    if rows >= max_rows:
      break
  return [name for name in names if high.get(name, 0.0) > low.get(name, 0.0)]


def constant_inputs(file_patterns: List[str], tft_output: tft.TFTransformOutput,
                    inputs: Sequence[str]) -> List[str]:
  """The inputs that are the same in every `train` example read: what this log lacks (no
  prices, no users, no brands), which the run summary names per ranker."""
  varying = set(varying_features(file_patterns, tft_output, list(inputs)))
  return [name for name in inputs if name not in varying]


def inputs_info(inputs: Sequence[str], constant: Sequence[str]) -> Dict[str, Any]:
  """The ranker-info entries saying which features a ranker had to learn from."""
  return {'inputs': len(inputs), 'constant_inputs': sorted(constant)}


def write_ranker_info(serving_dir: str, info: Mapping[str, Any]) -> None:
  """What Fusion must know about this ranker, next to its SavedModel (assets.extra is where
  TF Serving expects files that are not the model)."""
  path = os.path.join(serving_dir, keys.RANKER_INFO_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(dict(info), sort_keys=True))


def read_ranker_info(serving_dir: str) -> Dict[str, Any]:
  path = os.path.join(serving_dir, keys.RANKER_INFO_FILE)
  if not tf.io.gfile.exists(path):
    return {'trained': True}
  with tf.io.gfile.GFile(path) as f:
    return json.loads(f.read())


def train_and_export(fn_args, ranker: str,
                     build_model: Callable[[Dict[str, keras.Input], Vocabularies, HParams],
                                           keras.Model],
                     needs: Sequence[str] = ()) -> None:
  """The body of every run_fn: (warm start,) train on `train`, early-stop on `validation`,
  export.

  `needs`: features of which at least one must vary in `train` for this ranker to have
  anything to learn (no user histories for a sequence model, no text for a text model). When
  none does, the ranker is exported untrained and marked so: Fusion leaves it out, instead of
  fitting a model to constants.
  """
  hparams = HParams.from_config(fn_args.custom_config)
  # Fresh layer-name counters: variable names must not depend on what this process built
  # before (the local runner trains all rankers in one process), or warm start cannot match.
  keras.backend.clear_session()
  keras.utils.set_random_seed(hparams.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  vocabularies = Vocabularies.from_transform(tft_output)
  with distribution_strategy().scope():
    model = build_model(feature_inputs(tft_output), vocabularies, hparams)
    outcome = (warm_start.try_warm_start(model, ranker, getattr(fn_args, 'base_model', None),
                                         tft_output)
               if hparams.warm_start else {'warm_started': False, 'reason': 'warm_start off'})
    model.compile(optimizer=keras.optimizers.Adam(hparams.learning_rate),
                  loss=losses.get(hparams.loss), metrics=[EngagementAUC(name='auc')])
  warm_start.record(outcome, fn_args.model_run_dir)
  constant = constant_inputs(fn_args.train_files, tft_output, model.input_names)
  if needs and set(needs) <= set(constant):
    reason = f'nothing to learn: {", ".join(needs)} the same in every train example'
    logging.warning('%s: %s; exported untrained, Fusion leaves it out', ranker, reason)
    export(model, tft_output, fn_args.serving_model_dir)
    write_ranker_info(fn_args.serving_model_dir, {'trained': False, 'reason': reason,
                                                  **inputs_info(model.input_names, constant)})
    return
  train = transformed_dataset(fn_args.train_files, tft_output, hparams.batch_size,
                              shuffle=True, keep=model.input_names, seed=hparams.seed)
  validation = transformed_dataset(fn_args.eval_files, tft_output, 1024,
                                   keep=model.input_names)
  # Epoch lines go to the run log, not to the terminal the progress display owns.
  log_epoch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logging.info(
      '%s epoch %d/%d: %s', model.name, epoch + 1, hparams.epochs,
      ', '.join(f'{k} {v:.4f}' for k, v in sorted((logs or {}).items()))))
  model.fit(train, validation_data=validation, epochs=hparams.epochs, verbose=0,
            callbacks=[
                log_epoch,
                keras.callbacks.EarlyStopping(monitor='val_loss', patience=hparams.patience,
                                              restore_best_weights=True),
                keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
            ])
  export(model, tft_output, fn_args.serving_model_dir)
  write_ranker_info(fn_args.serving_model_dir, {'trained': True,
                                                **inputs_info(model.input_names, constant)})
