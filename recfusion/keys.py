"""Names that more than one component, the CLI or the report must agree on.

Components never import each other's executors to learn a property name or an output key: they
read it here, as TFX's own components read `standard_component_specs`. The helpers below are
the one reading of each artifact property (an unset int property reads 0 in MLMD and in TFX).
"""
import json
import os
from typing import Any, Optional

# The three splits LogJoinExampleGen writes, in time order, and what each is for.
SPLITS = ('train', 'validation', 'eval')
TRAIN_SPLIT, FUSION_SPLIT, EVAL_SPLIT = SPLITS
# The splits Transform writes: what the Trainers and Fusion read. The Evaluator scores the raw
# `eval` examples through the serving signature, which applies the Transform graph itself.
TRANSFORMED_SPLITS = (TRAIN_SPLIT, FUSION_SPLIT)

# Example features every stage reads by name.
LABEL_KEY = 'gain'
ENGAGED_KEY = 'engaged'
REQUEST_ID_KEY = 'request_id'

# Model outputs and signatures.
SCORE_KEY = 'score'
PROBABILITY_KEY = 'probability'
SERVING_SIGNATURE = 'serving_default'
TRANSFORMED_SIGNATURE = 'transformed_features'

# Set by the Kubeflow entrypoint (pipeline/kfp_executor.py): RunReport's artifact is typed
# `system.HTML` there, and KFP's UI shows the file at the artifact's URI.
REPORT_AT_URI_ENV = 'RECFUSION_REPORT_AT_URI'

# Beside each ranker's SavedModel: whether it was trained, and why not.
RANKER_INFO_FILE = 'assets.extra/recfusion_ranker.json'

# Custom properties of artifacts, by the component that writes them.
# Examples (LogJoinExampleGen)
SPANS = 'spans'
JOIN_REPORT = 'join_report'
# Model (Fusion) and FusionReport
FUSION_METHOD = 'fusion_method'
FUSION_REPORT = 'report'
# On the fused Model: each member's score spread, validation AUC and weight, for the gate.
MEMBER_HEALTH = 'member_health'
# On the ModelBlessing: the gate's checks as JSON (recfusion/evaluation/gate.py).
GATE_CHECKS = 'gate_checks'
# Model (BaselineLookup's baseline_model)
BASELINE_FOUND = 'found'
BASELINE_VERSION = 'registry_version'
BASELINE_PATH = 'registry_path'
# ModelBlessing (Evaluator) and HTMLReport (RunReport)
BLESSED = 'blessed'
# The fused model's NDCG@10 on eval, as text (repr): what `recfusion runs` lists without TFMA.
NDCG10 = 'ndcg10'
# InputsCheck (Kubeflow): the run's inputs digest; whether it differs from the production
# model's (1: the rest of the DAG runs), or 0 with the version it equals.
INPUTS_CHANGED = 'changed'
UNCHANGED_SINCE_VERSION = 'unchanged_since_version'
# PushedModel (RegistryPusher)
# Registry index `extra` (and InputsCheck's digest): a digest of the data files, resolved config
# and recfusion's code a version was trained from (recfusion/fingerprints.inputs_digest); a run
# with the same digest has nothing new to learn.
INPUTS_DIGEST = 'inputs_digest'
# Registry index `extra`: the StatisticsGen output of the run that pushed the version, which
# later runs' reports compare their data with (recfusion/report/drift.py).
STATISTICS = 'statistics'
PUSHED = 'pushed'
PUSHED_VERSION = 'pushed_version'
PUSHED_DESTINATION = 'pushed_destination'
# The fused Model's compact export (recfusion/models/fusion/compact.py), as JSON.
COMPACT = 'compact'
# Why a blessed model was not pushed (the registry is pinned), in words.
PUSH_REFUSED = 'push_refused'
# What the serving smoke test scored before the push (recfusion/serving_check.py), as JSON.
SERVING_CHECK = 'serving_check'
# Registry index `extra` (and the run summary's push): the version's size and latency per request.
SERVING_COST = 'serving'


def int_property(artifact: Any, name: str) -> int:
  """An int custom property of a TFX artifact or an MLMD artifact proto (0 when unset). On a
  Kubeflow cluster the KFP backend records TFX's ints as JSON numbers, i.e. doubles."""
  if hasattr(artifact, 'get_int_custom_property'):
    return artifact.get_int_custom_property(name)
  value = artifact.custom_properties.get(name)
  if value is None:
    return 0
  return int(value.double_value) if value.HasField('double_value') else value.int_value


def string_property(artifact: Any, name: str) -> str:
  """A string custom property of a TFX artifact or an MLMD artifact proto ('' when unset)."""
  if hasattr(artifact, 'get_string_custom_property'):
    return artifact.get_string_custom_property(name)
  value = artifact.custom_properties.get(name)
  return value.string_value if value is not None else ''


def baseline_found(artifact: Any) -> bool:
  return bool(int_property(artifact, BASELINE_FOUND))


def baseline_version(artifact: Any) -> Optional[int]:
  """The registry version BaselineLookup found, or None when there was no model."""
  return int_property(artifact, BASELINE_VERSION) if baseline_found(artifact) else None


def is_blessed(blessing: Any) -> bool:
  """The Evaluator's verdict: its `blessed` property, or the BLESSED marker file TFX writes."""
  if int_property(blessing, BLESSED) == 1:
    return True
  uri = getattr(blessing, 'uri', '')
  if not uri:
    return False
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top  (keeps this module light)
  return fileio.exists(os.path.join(uri, 'BLESSED'))


def push_record(pushed: Any) -> dict:
  """{'pushed', 'version', 'path'} of a RegistryPusher output, with 'refused' (why a blessed
  model was not pushed), the serving cost and the compact export's outcome when they exist."""
  record = {'pushed': bool(int_property(pushed, PUSHED)),
            'version': string_property(pushed, PUSHED_VERSION),
            'path': string_property(pushed, PUSHED_DESTINATION)}
  refused = string_property(pushed, PUSH_REFUSED)
  if refused:
    record['refused'] = refused
  check = string_property(pushed, SERVING_CHECK)
  if check:
    smoke = json.loads(check)
    record[SERVING_COST] = smoke.get(SERVING_COST, {})
    if COMPACT in smoke:
      record[COMPACT] = smoke[COMPACT]
  return record
