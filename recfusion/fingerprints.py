"""Fingerprints of what a run is made from: its input files, recfusion's code, and both with
the resolved config together (the digest a registry version records, so a later run can tell
it has nothing new to learn: locally before the DAG starts, on Kubeflow in the InputsCheck task).

No TFX or TensorFlow here: the CLI reads these before importing either.
"""
import hashlib
import os
from typing import Dict

from recfusion.data import contract


def input_fingerprint(data_dir: str) -> str:
  """Names, sizes and modification times of every input file: new data means a new run of
  LogJoinExampleGen instead of a cache hit."""
  layout = contract.discover(data_dir)
  files = [layout.catalog_file] + ([layout.users_file] if layout.users_file else [])
  files += [f for span in layout.spans for f in span.files]
  digest = hashlib.sha256()
  for path in files:
    size, mtime_ns = contract.file_stamp(path)
    digest.update(f'{path[len(data_dir):].lstrip("/")}:{size}:{mtime_ns};'.encode())
  return digest.hexdigest()[:16]


def inputs_digest(data_dir: str, config_text: str) -> str:
  """Everything a model is trained from: the data files (names, sizes, times), the resolved
  config (`config_text`: Config.to_yaml(), whose secrets are redacted, so a rotated credential
  changes no model) and recfusion's code."""
  digest = hashlib.sha256()
  for part in (input_fingerprint(data_dir), code_fingerprint(), config_text):
    digest.update(part.encode() + b'\0')
  return digest.hexdigest()[:16]


# The installed package(s) whose code keys the cache, each with all of its subpackages (found by
# code_folders, not listed here).
CODE_PACKAGES = ('recfusion',)
CODE_SUFFIXES = ('.py', '.pbtxt', '.yaml', '.j2')
SKIPPED_FOLDERS = ('__pycache__', 'tests')


def code_folders(package: str) -> Dict[str, str]:
  """{package or subpackage: folder}: the folders that together hold all of `package`.

  A regular install needs one: every subpackage, recfusion.pipeline, .components and .schemas
  included, lies inside the package's folder. The editable install leaves the subpackages that
  setup.py maps from top-level folders (pipeline/, components/, schemas/) where they are, next to
  the package's folder; such a sibling belongs to `package` when the import system resolves
  `package.<name>` to that very folder. Only `package` itself is imported.
  """
  import importlib.util
  import pkgutil
  module = importlib.import_module(package)
  folders = {package: os.path.dirname(os.path.abspath(module.__file__))}
  for location in module.__path__:
    parent = os.path.dirname(os.path.abspath(location))
    for info in pkgutil.iter_modules([parent]):
      folder = os.path.join(parent, info.name)
      if not info.ispkg or os.path.realpath(folder) == os.path.realpath(location):
        continue
      try:
        spec = importlib.util.find_spec(f'{package}.{info.name}')
      except (ImportError, ValueError):
        continue
      if spec and any(os.path.realpath(found) == os.path.realpath(folder)
                      for found in spec.submodule_search_locations or ()):
        folders[f'{package}.{info.name}'] = folder
  return folders


def code_fingerprint() -> str:
  """A digest of the pipeline's own code and schema.

  TFX caches a component by its inputs and parameters, and run_fn / preprocessing_fn are
  parameters by import path only: without this, a new version of recfusion would reuse the
  previous version's cached models. Files are keyed by their path in the package
  (recfusion/components/...), so an editable and a regular install of the same code agree.
  """
  files: Dict[str, str] = {}
  for package in CODE_PACKAGES:
    for name, root in code_folders(package).items():
      for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
        for file_name in names:
          if file_name.endswith(CODE_SUFFIXES) and not file_name.endswith('_test.py'):
            path = os.path.join(folder, file_name)
            key = os.path.join(*name.split('.'), os.path.relpath(path, root))
            files[key.replace(os.sep, '/')] = path
  digest = hashlib.sha256()
  for key in sorted(files):
    with open(files[key], 'rb') as f:
      digest.update(f'{key}:'.encode() + hashlib.sha256(f.read()).digest())
  return digest.hexdigest()[:16]
