"""Readable lines for TFDV anomalies: what the run stops with and what the report lists."""
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2


def describe_anomalies(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
  lines = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    lines.append(f'[{split}] feature {feature!r}: {info.short_description} — '
                 f'{info.description}')
  if anomalies.HasField('dataset_anomaly_info'):
    info = anomalies.dataset_anomaly_info
    lines.append(f'[{split}] dataset: {info.short_description} — {info.description}')
  return lines
