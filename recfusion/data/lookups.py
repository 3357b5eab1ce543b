"""A data directory's catalog and user segments, keyed the way the example builder
(recfusion/data/join.py) looks them up."""
from typing import Dict, Tuple

from recfusion.data import contract, join


def load(data_dir: str, pseudonymize=None
         ) -> Tuple[Dict[str, join.CatalogItem], Dict[str, str]]:
  """(item id -> CatalogItem, user id -> segment); DataContractError on a bad table."""
  layout = contract.discover(data_dir)
  catalog = {row.item_id: join.CatalogItem(row.title, row.category, row.brand, float(row.price))
             for row in contract.load_catalog(layout.catalog_file).itertuples()}
  users = contract.load_users(layout.users_file, pseudonymize)
  return catalog, dict(zip(users['user_id'], users['segment']))
