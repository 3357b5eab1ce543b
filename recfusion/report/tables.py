"""Table rows shared by the terminal summary of `recfusion run` and the report (no plotting
imports: the CLI loads this on every run)."""
from typing import List, Mapping, Optional

MODEL_COLUMNS = ('model', 'weight', 'NDCG@10 validation', 'AUC validation', 'NDCG@10 eval')


def fmt(value, digits: int = 4) -> str:
  if value is None:
    return '-'
  if isinstance(value, float) and value.is_integer() and abs(value) > 1:
    return f'{int(value)}'
  return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def model_rows(fusion: Mapping, eval_ndcg10: Mapping[str, Optional[float]]) -> List[List[str]]:
  """One row per base ranker, then the fused model: fusion weight, validation metrics from the
  FusionReport, and NDCG@10 on eval (`eval_ndcg10` by model name, 'fused' for the fusion)."""
  rows = []
  for name in sorted(fusion.get('metrics', {}), key=lambda n: (n == 'fused', n)):
    metrics = fusion['metrics'][name]
    weight = fmt(fusion.get('weights', {}).get(name)) if name != 'fused' else ''
    rows.append([name, weight, fmt(metrics.get('ndcg@10')), fmt(metrics.get('auc')),
                 fmt(eval_ndcg10.get(name))])
  return rows
