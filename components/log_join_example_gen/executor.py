"""Beam executor of LogJoinExampleGen: shop logs -> train/validation/eval tf.Examples."""
import json
import os
from typing import Any, Dict, List, Tuple

import apache_beam as beam
from absl import logging
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from recfusion import keys
from recfusion.data import contract, join, pseudonyms

EXAMPLES_KEY = 'examples'
REPORT_FILE = 'join_report.json'
_COUNTERS = 'recfusion.log_join'


class _ReadEventFile(beam.DoFn):
  """Reads and validates one event file; emits (request_id, [events]) per request in it."""

  def __init__(self, catalog_ids: frozenset, on_unknown_item: str, earliest_timestamp: int,
               user_id_key_source: str = ''):
    self._catalog_ids = catalog_ids
    # Where the key is, not the key: a DoFn is pickled into the Beam job, the key must not be.
    self._user_id_key_source = user_id_key_source
    self._pseudonymize = None
    self._on_unknown_item = on_unknown_item
    self._earliest_timestamp = earliest_timestamp
    self._rows = beam.metrics.Metrics.counter(_COUNTERS, 'event_rows')
    self._skipped = beam.metrics.Metrics.counter(_COUNTERS, 'skipped_unknown_item_events')

  def setup(self):
    self._pseudonymize = pseudonyms.pseudonymizer(self._user_id_key_source)

  def process(self, span_and_path: Tuple[int, str]):
    span, path = span_and_path
    result = contract.read_events(path, self._catalog_ids, self._on_unknown_item,
                                  self._earliest_timestamp, self._pseudonymize)
    self._rows.inc(len(result.events))
    self._skipped.inc(result.skipped_unknown_item)
    frame = result.events
    columns = zip(frame['request_id'], frame['timestamp'], frame['user_id'], frame['query'],
                  frame['item_id'], frame['position'], frame['gain'], frame['event'])
    by_request: Dict[str, List[join.Event]] = {}
    for request_id, ts, user, query, item, position, gain, event in columns:
      by_request.setdefault(request_id, []).append(
          (int(ts), user, query, item, int(position), float(gain), event, span))
    yield from by_request.items()


class _BuildExamples(beam.DoFn):
  """(request, history) -> (split, serialized tf.Example) for each candidate."""

  def __init__(self, catalog: Dict[str, join.CatalogItem], segments: Dict[str, str],
               negatives_per_request: int, seed: int, span_to_split, fractions):
    self._catalog = catalog
    self._catalog_ids = sorted(catalog)
    self._segments = segments
    self._negatives = negatives_per_request
    self._seed = seed
    self._span_to_split = span_to_split
    self._fractions = fractions
    self._counters = {name: beam.metrics.Metrics.counter(_COUNTERS, name) for name in (
        'requests', 'requests_without_impressions', 'sampled_negatives',
        'requests_outside_splits', *(f'examples_{s}' for s in keys.SPLITS),
        *(f'requests_{s}' for s in keys.SPLITS),
        *(f'examples_without_engagement_{s}' for s in keys.SPLITS))}

  def process(self, request_and_history, time_range):
    request, history = request_and_history
    if self._span_to_split is not None:
      rule = join.SplitRule(span_to_split=self._span_to_split)
    else:
      rule = join.SplitRule(boundaries=join.time_boundaries(*time_range, self._fractions))
    self._counters['requests'].inc()
    split = rule.split_of(request)
    if split is None:
      self._counters['requests_outside_splits'].inc()
      return
    negatives = []
    if not request.has_impressions:
      self._counters['requests_without_impressions'].inc()
      negatives = join.sample_negatives(request, self._catalog_ids, self._negatives,
                                        self._seed)
      self._counters['sampled_negatives'].inc(len(negatives))
    examples = join.build_examples(request, history, self._catalog, self._segments,
                                   negatives)
    self._counters[f'requests_{split}'].inc()
    self._counters[f'examples_{split}'].inc(len(examples))
    self._counters[f'examples_without_engagement_{split}'].inc(
        sum(c.gain <= 0 for c in request.candidates) + len(negatives))
    for example in examples:
      yield split, example.SerializeToString()


class _MinMax(beam.CombineFn):

  def create_accumulator(self):
    return None

  def add_input(self, acc, value):
    return (value, value) if acc is None else (min(acc[0], value), max(acc[1], value))

  def merge_accumulators(self, accumulators):
    present = [a for a in accumulators if a is not None]
    if not present:
      return None
    return min(a[0] for a in present), max(a[1] for a in present)

  def extract_output(self, acc):
    return acc


class Executor(base_beam_executor.BaseBeamExecutor):
  """Joins events with catalog and users into ranking examples split by time."""

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    split_config = json.loads(exec_properties['split_config'])
    layout = contract.discover(exec_properties['input_base'])
    span_to_split = None
    required_spans: List[int] = []
    if split_config['mode'] == 'spans':
      span_to_split = {int(span): name for name, spans in split_config['spans'].items()
                       for span in spans}
      required_spans = sorted(span_to_split)
    selected = contract.select_window(layout, int(exec_properties['window_spans']),
                                      required_spans)
    catalog_frame = contract.load_catalog(layout.catalog_file)
    key_source = exec_properties.get('user_id_key_source') or ''
    users_frame = contract.load_users(layout.users_file, pseudonyms.pseudonymizer(key_source))
    catalog = {row.item_id: join.CatalogItem(row.title, row.category, row.brand,
                                             float(row.price))
               for row in catalog_frame.itertuples()}
    segments = dict(zip(users_frame['user_id'], users_frame['segment']))
    files = [(span.number, path) for span in selected for path in span.files]
    logging.info('LogJoinExampleGen: spans %s, %d event files, %d catalog items',
                 contract.span_numbers(selected), len(files), len(catalog))

    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    examples.split_names = artifact_utils.encode_split_names(list(keys.SPLITS))
    history_max = int(exec_properties['history_max'])

    pipeline = self._make_beam_pipeline()
    requests = (
        pipeline
        | 'EventFiles' >> beam.Create(files)
        | 'ReadAndValidate' >> beam.ParDo(
            _ReadEventFile(frozenset(catalog), exec_properties['on_unknown_item'],
                           int(exec_properties['earliest_timestamp']), key_source))
        | 'GroupByRequest' >> beam.GroupByKey()
        | 'SummarizeRequest' >> beam.MapTuple(
            lambda request_id, parts: join.summarize_request(
                request_id, [event for part in parts for event in part])))
    time_range = (
        requests
        | 'RequestTime' >> beam.Map(lambda r: r.timestamp)
        | 'TimeRange' >> beam.CombineGlobally(_MinMax()))
    per_split = (
        requests
        | 'KeyByUser' >> beam.Map(lambda r: (r.history_key, r))
        | 'GroupByUser' >> beam.GroupByKey()
        | 'AttachHistory' >> beam.FlatMapTuple(
            lambda _, user_requests: join.attach_histories(user_requests, history_max))
        | 'BuildExamples' >> beam.ParDo(
            _BuildExamples(catalog, segments, int(exec_properties['negatives_per_request']),
                           int(exec_properties['seed']), span_to_split,
                           split_config.get('fractions')),
            time_range=beam.pvalue.AsSingleton(time_range))
        | 'PartitionBySplit' >> beam.Partition(
            lambda split_and_example, _: keys.SPLITS.index(split_and_example[0]),
            len(keys.SPLITS)))
    for name, split_examples in zip(keys.SPLITS, per_split):
      split_uri = artifact_utils.get_split_uri([examples], name)
      _ = (split_examples
           | f'Values[{name}]' >> beam.Values()
           | f'Write[{name}]' >> beam.io.WriteToTFRecord(
               os.path.join(split_uri, 'data_tfrecord'), file_name_suffix='.gz',
               compression_type=beam.io.filesystem.CompressionTypes.GZIP))
    result = pipeline.run()
    result.wait_until_finish()

    report = _counter_report(result)
    report['spans'] = contract.span_numbers(selected)
    report['split_mode'] = split_config['mode']
    _check_nonempty_splits(report, exec_properties['input_base'])
    with fileio.open(os.path.join(examples.uri, REPORT_FILE), 'w') as f:
      f.write(json.dumps(report, indent=2, sort_keys=True))
    examples.span = max(report['spans'])
    examples.set_string_custom_property(keys.SPANS, ','.join(map(str, report['spans'])))
    examples.set_string_custom_property(keys.JOIN_REPORT, json.dumps(report, sort_keys=True))
    examples.set_string_custom_property('file_format', 'tfrecords_gzip')
    examples_utils.set_payload_format(
        examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    logging.info('LogJoinExampleGen report: %s', report)


def _counter_report(result) -> Dict[str, int]:
  query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(_COUNTERS))
  report: Dict[str, int] = {}
  for counter in query['counters']:
    name = counter.key.metric.name
    report[name] = report.get(name, 0) + int(counter.committed or counter.attempted or 0)
  for name in ('event_rows', 'skipped_unknown_item_events', 'requests',
               'requests_without_impressions', 'sampled_negatives', 'requests_outside_splits',
               *(f'examples_{s}' for s in keys.SPLITS), *(f'requests_{s}' for s in keys.SPLITS),
               *(f'examples_without_engagement_{s}' for s in keys.SPLITS)):
    report.setdefault(name, 0)
  return report


def _check_nonempty_splits(report: Dict[str, int], input_base: str) -> None:
  empty = [s for s in keys.SPLITS if report[f'examples_{s}'] == 0]
  if empty:
    raise contract.DataContractError(
        f'{input_base}: split(s) {empty} got no examples from spans {report["spans"]} '
        f'({report["requests"]} requests). Give more spans (data.window_spans) or change '
        'data.split.')
