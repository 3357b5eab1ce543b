"""recfusion's own artifact types.

On Kubeflow the TFX entrypoint imports a custom type by the name it carries in the compiled
spec, `recfusion.<Type>` (KFP also wants exactly one dot in it): recfusion/__init__.py resolves
those names to the classes here.
"""
from tfx import types


class FusionReport(types.Artifact):
  """JSON report of a fusion: method, weights, validation metrics per model and fused."""
  TYPE_NAME = 'recfusion.FusionReport'


class HTMLReport(types.Artifact):
  """A self-contained HTML page: `report.html` in the artifact folder; on Kubeflow the artifact
  is typed `system.HTML` and the page is the file at its URI (pipeline/kfp_executor.py)."""
  TYPE_NAME = 'recfusion.HTMLReport'


class InputsCheck(types.Artifact):
  """What a Kubeflow run is made from (its inputs digest) and whether the production model was
  made from exactly that (custom properties `inputs_digest`, `changed`): the rest of the DAG
  runs only when `changed` is 1."""
  TYPE_NAME = 'recfusion.InputsCheck'
