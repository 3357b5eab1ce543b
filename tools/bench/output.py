"""Where a bench writes what it measured: the JSON and its markdown table side by side."""
import json
import os
from typing import Dict


def write(result: Dict, table: str, out: str) -> None:
  """`out` (JSON) and the same name with .md (the table), which is also printed."""
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w') as f:
    json.dump(result, f, indent=2, sort_keys=True)
  with open(os.path.splitext(out)[0] + '.md', 'w') as f:
    f.write(table)
  print(table)
