"""Where the RunReport page goes: a file in the artifact folder, or the artifact on Kubeflow."""
from recfusion import keys
from recfusion.components.run_report import executor


def test_the_page_is_a_file_in_the_artifact_folder_by_default(monkeypatch):
  monkeypatch.delenv(keys.REPORT_AT_URI_ENV, raising=False)
  assert executor.report_path('/root/RunReport/report/7') == '/root/RunReport/report/7/report.html'


def test_on_kubeflow_the_page_is_the_artifact_itself(monkeypatch):
  monkeypatch.setenv(keys.REPORT_AT_URI_ENV, '1')
  assert executor.report_path('gs://b/RunReport/report') == 'gs://b/RunReport/report'
