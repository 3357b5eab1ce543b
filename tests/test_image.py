"""The pipeline image's build file: what it installs and as whom (no Docker here: read, not run)."""
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path):
  with open(os.path.join(ROOT, *path)) as f:
    return f.read()


def test_the_image_installs_the_runtime_lock_checking_every_hash():
  dockerfile = _read('Dockerfile')
  install = [line for line in dockerfile.splitlines() if '-r /tmp/requirements.lock' in line]
  assert install and all('--require-hashes' in line for line in install)
  lock = _read('requirements.lock')
  # One entry per package: `name==version \` followed by its `--hash=sha256:` lines.
  entries = re.split(r'\n(?=[A-Za-z0-9])', lock.split('\n', 2)[2])
  pinned = [e for e in entries if '==' in e.split('\n', 1)[0]]
  assert len(pinned) > 100
  unhashed = [e.split()[0] for e in pinned if '--hash=sha256:' not in e]
  assert unhashed == []


def test_the_image_is_byte_compiled_at_build():
  # Its tasks cannot write the image, so bytecode not compiled at build is compiled by every
  # task again, at each import of TensorFlow, TFX and Beam.
  installs = [line for line in _read('Dockerfile').splitlines() if 'uv pip install' in line]
  assert len(installs) == 2
  assert all('--compile-bytecode' in line for line in installs)


def test_tasks_run_as_the_same_unprivileged_uid_as_the_manifests():
  users = re.findall(r'^USER\s+(\S+)', _read('Dockerfile'), flags=re.M)
  assert users and users[-1].isdigit() and int(users[-1]) > 0
  cronjob = yaml.safe_load(_read('kubernetes', 'base', 'retrain-cronjob.yaml'))
  pod = cronjob['spec']['jobTemplate']['spec']['template']['spec']
  assert pod['securityContext']['runAsNonRoot'] is True
  assert pod['securityContext']['runAsUser'] == int(users[-1])
