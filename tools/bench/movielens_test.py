"""Unit test of the MovieLens-to-shop conversion on a hand-written miniature of its files."""
import os

import pandas as pd

from recfusion.data import contract
from tools.bench import movielens


def _write(folder):
  os.makedirs(folder)
  files = {
      'ml-100k.item': 'item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n'
                      '1\tToy Story\t1995\tAnimation Children\n2\tHeat\t1995\tAction Crime\n'
                      '3\tOld One\t\t\n',
      'ml-100k.user': 'user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n'
                      '7\t24\tM\tx\t1\n8\t53\tF\ty\t2\n',
      # user 7 rates on day 0 (two movies) and day 20; user 8 on day 1.
      'ml-100k.inter': 'user_id:token\titem_id:token\trating:float\ttimestamp:float\n'
                       '7\t1\t5\t100\n7\t2\t2\t200\n8\t3\t4\t86500\n7\t3\t3\t1728100\n',
  }
  for name, text in files.items():
    with open(os.path.join(folder, name), 'w') as f:
      f.write(text)
  return folder


def test_ratings_become_daily_requests_with_graded_gains_in_two_week_spans(tmp_path):
  out = str(tmp_path / 'shop')
  counts = movielens.convert(_write(str(tmp_path / 'ml')), out)
  assert counts == {'items': 3, 'users': 2, 'ratings': 4, 'requests': 3, 'spans': 2}
  catalog = pd.read_parquet(os.path.join(out, 'catalog.parquet'))
  assert catalog.to_dict('list') == {'item_id': ['m1', 'm2', 'm3'],
                                     'title': ['Toy Story', 'Heat', 'Old One'],
                                     'category': ['Animation', 'Action', 'unknown'],
                                     'brand': ['1990s', '1990s', 'unknown']}
  users = pd.read_parquet(os.path.join(out, 'users.parquet'))
  assert users['segment'].tolist() == ['<25-M', '50+-F']
  first = pd.read_parquet(os.path.join(out, 'events', 'span-0', 'events.parquet'))
  assert first['request_id'].tolist() == ['u7-0', 'u7-0', 'u8-1']
  assert first['timestamp'].tolist() == [100, 100, 86500]  # a day's ratings: one visit
  assert first['gain'].tolist() == [3.0, 0.0, 2.0]
  later = pd.read_parquet(os.path.join(out, 'events', 'span-1', 'events.parquet'))
  assert later['request_id'].tolist() == ['u7-20'] and later['gain'].tolist() == [1.0]
  # What the pipeline will accept: the data contract's own check passes.
  # MovieLens is older than the default earliest event time, hence the bench sets it to 0.
  assert contract.check_data_dir(out, window_spans=16, earliest_timestamp=0) == {
      'spans': 2, 'event_rows': 4, 'skipped_unknown_item': 0}
