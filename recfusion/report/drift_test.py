"""Unit tests of the data drift comparison on real TFDV statistics of tiny data sets."""
import os

import pandas as pd
import pytest

from recfusion.report import drift, tables
from recfusion.report.data import ReportData


def _statistics(root, frame):
  import tensorflow_data_validation as tfdv
  path = drift.statistics_file(str(root))
  os.makedirs(os.path.dirname(path))
  # What StatisticsGen writes: one serialized DatasetFeatureStatisticsList.
  with open(path, 'wb') as f:
    f.write(tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
  return str(root)


def _shop(searches: int, price: float) -> pd.DataFrame:
  """100 rows: `searches` search requests, the rest recommendations; every price `price` or
  `price` + 1."""
  return pd.DataFrame({
      'request_type': ['search'] * searches + ['recommend'] * (100 - searches),
      'price': [price + (i % 2) for i in range(100)],
      'request_id': [f'r{i}' for i in range(100)]})


def test_the_same_data_has_no_drift(tmp_path):
  production = _statistics(tmp_path / 'production', _shop(50, 10.0))
  current = _statistics(tmp_path / 'current', _shop(50, 10.0))
  rows = drift.compare(current, production)
  assert {r['feature'] for r in rows} == {'request_type', 'price'}  # ids are never compared
  assert all(r['value'] == 0 and not r['drifted'] for r in rows)


def test_a_shifted_category_mix_and_price_are_flagged(tmp_path):
  production = _statistics(tmp_path / 'production', _shop(50, 10.0))
  current = _statistics(tmp_path / 'current', _shop(90, 100.0))
  rows = {r['feature']: r for r in drift.compare(current, production)}
  mix = rows['request_type']
  # L-infinity: the largest change in one value's share, 0.9 - 0.5.
  assert (mix['measure'], mix['drifted']) == ('L-infinity', True)
  assert mix['value'] == pytest.approx(0.4)
  assert mix['this_run'] == "2 values, top 'search' (90%)"
  assert mix['production'].startswith('2 values, top ') and mix['production'].endswith('(50%)')
  price = rows['price']
  # Disjoint ranges: the Jensen-Shannon divergence is at its maximum.
  assert (price['measure'], price['drifted']) == ('Jensen-Shannon', True)
  assert price['value'] == pytest.approx(1.0, abs=0.05)
  assert (price['this_run'], price['production']) == ('mean 100.5', 'mean 10.5')


def test_no_comparison_says_why(tmp_path):
  assert drift.against_production('current', 'production', None) == {}
  assert drift.against_production(None, 'production', 3) == {
      'version': 3, 'note': 'this run has no statistics'}
  assert 'pushed without its data statistics' in drift.against_production(
      'current', None, 3)['note']
  gone = drift.against_production('current', str(tmp_path / 'gone'), 3)
  assert gone['note'].startswith('the statistics of version 3 are gone')


def test_the_report_lines_name_the_drifted_features():
  rows = [{'feature': 'request_type', 'measure': 'L-infinity', 'value': 0.4, 'threshold': 0.1,
           'drifted': True, 'this_run': "2 values, top 'search' (90%)",
           'production': "2 values, top 'search' (50%)"},
          {'feature': 'price', 'measure': 'Jensen-Shannon', 'value': 0.02, 'threshold': 0.1,
           'drifted': False, 'this_run': 'mean 10.5', 'production': 'mean 10.4'}]
  report = ReportData(drift={'version': 3, 'rows': rows})
  assert tables.drift_line(report) == ('data vs version 3: 1 of 2 features drifted: '
                                       'request_type 0.40')
  assert tables.drift_rows(report)[1] == ['price', 'mean 10.5', 'mean 10.4',
                                          '0.020 Jensen-Shannon', '0.1', '']
  assert tables.drift_title(report) == 'Data: this run vs what version 3 was trained on'
  quiet = ReportData(drift={'version': 3, 'rows': rows[1:]})
  assert tables.drift_line(quiet) == 'data vs version 3: no drift beyond the thresholds in 1 features'
  assert tables.drift_line(ReportData()) is None
