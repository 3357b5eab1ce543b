"""`recfusion submit` and `schedule` against a local HTTP server that speaks the KFP v2beta1
REST endpoints they use; the requests it receives are asserted, and so is error handling."""
import http.server
import json
import re
import threading
import urllib.parse

import pytest
from click.testing import CliRunner

from recfusion import cli
from recfusion.config import load_config
from recfusion.pipeline import kubeflow_client, kubeflow_runner


class FakeKfp(http.server.BaseHTTPRequestHandler):
  state: dict = {}

  def log_message(self, *args):  # keep test output clean
    pass

  def _reply(self, status, body):
    payload = json.dumps(body).encode()
    self.send_response(status)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(payload)))
    self.end_headers()
    self.wfile.write(payload)

  def _record(self, body=None):
    self.state['requests'].append({'method': self.command, 'path': self.path, 'body': body,
                                   'authorization': self.headers.get('Authorization')})

  def do_GET(self):  # noqa: N802 (http.server's naming)
    self._record()
    path = urllib.parse.urlparse(self.path)
    if self.state.get('unauthorized'):
      return self._reply(401, {'error': 'Unauthorized: token expired'})
    if path.path.endswith('/healthz'):
      return self._reply(200, {'multi_user': False})
    if path.path.endswith('/experiments'):
      wanted = urllib.parse.parse_qs(path.query).get('filter', [''])[0]
      found = [e for e in self.state['experiments'] if e['display_name'] in wanted]
      return self._reply(200, {'experiments': found, 'total_size': len(found)})
    if '/runs/' in path.path:
      # Each GET of a run answers the next of its scripted states; the last one repeats.
      script = self.state['runs'].get(path.path.rsplit('/', 1)[-1])
      if script is None:
        return self._reply(404, {'error': 'run not found', 'code': 5})
      return self._reply(200, script.pop(0) if len(script) > 1 else script[0])
    if path.path.endswith('/recurringruns'):
      runs = list(self.state['recurring'].values())
      # The real API's list responses spell this key in camelCase.
      return self._reply(200, {'recurringRuns': runs, 'total_size': len(runs)})
    return self._reply(404, {'error': 'not found'})

  def do_POST(self):  # noqa: N802
    body = json.loads(self.rfile.read(int(self.headers['Content-Length'])) or b'{}')
    self._record(body)
    for verb, status in ((':disable', 'DISABLED'), (':enable', 'ENABLED')):
      if self.path.endswith(verb):
        identifier = self.path[:-len(verb)].rsplit('/', 1)[-1]
        if identifier not in self.state['recurring']:
          return self._reply(404, {'error': f'recurring run {identifier} not found'})
        self.state['recurring'][identifier]['status'] = status
        return self._reply(200, {})
    if self.path.endswith('/experiments'):
      experiment = {'experiment_id': f'exp-{len(self.state["experiments"]) + 1}',
                    'display_name': body['display_name']}
      self.state['experiments'].append(experiment)
      return self._reply(200, experiment)
    if self.path.endswith('/runs'):
      if self.state.get('reject'):
        return self._reply(400, {'error': 'pipeline spec is invalid: unknown executor',
                                 'code': 3})
        self.state['runs'].setdefault('run-1', [_run_json('run-1', 'SUCCEEDED')])
      return self._reply(200, {'run_id': 'run-1', 'display_name': body['display_name'],
                               'experiment_id': body.get('experiment_id')})
    if self.path.endswith('/recurringruns'):
      identifier = f'rr-{len(self.state["recurring"]) + 1}'
      recurring = dict(body, recurring_run_id=identifier, status='ENABLED')
      self.state['recurring'][identifier] = recurring
      return self._reply(200, recurring)
    return self._reply(404, {'error': 'not found'})

  def do_DELETE(self):  # noqa: N802
    self._record()
    identifier = self.path.rsplit('/', 1)[-1]
    if self.state['recurring'].pop(identifier, None) is None:
      return self._reply(404, {'error': f'recurring run {identifier} not found'})
    return self._reply(200, {})


def _run_json(run_id, state, tasks=(), error=None):
  """A v2beta1 run as the API returns it; tasks are (name, state, error message or None)."""
  return {'run_id': run_id, 'display_name': 'nightly', 'state': state,
          'created_at': '2026-12-02T03:00:00Z',
          **({'finished_at': '2026-12-02T03:40:00Z'} if state in ('SUCCEEDED', 'FAILED') else {}),
          **({'error': {'code': 2, 'message': error}} if error else {}),
          'run_details': {'task_details': [
              {'display_name': name, 'state': task_state,
               'start_time': f'2026-12-02T03:{i:02d}:00Z',
               **({'error': {'code': 2, 'message': message}} if message else {})}
              for i, (name, task_state, message) in enumerate(tasks)]}}


@pytest.fixture
def kfp_server():
  FakeKfp.state = {'requests': [], 'experiments': [], 'recurring': {}, 'runs': {}}
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), FakeKfp)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}', FakeKfp.state
  server.shutdown()
  server.server_close()


@pytest.fixture(scope='module')
def package(tmp_path_factory):
  out = tmp_path_factory.mktemp('compiled')
  config = load_config(overrides=['data.dir=/mnt/shop'])
  return kubeflow_runner.compile_pipeline(config, 'reg/recfusion:1', 'gs://b/root',
                                          str(out))['pipeline']


def _posts(state, suffix):
  return [r for r in state['requests'] if r['method'] == 'POST' and r['path'].endswith(suffix)]


def test_submit_sends_the_compiled_spec_with_the_token_from_a_file(kfp_server, package,
                                                                  tmp_path):
  host, state = kfp_server
  token = tmp_path / 'token'
  token.write_text('s3cret\n')
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', host, '--package', package, '--token-file', str(token),
      '--experiment', 'shop-ranking', '--run-name', 'nightly'])
  assert result.exit_code == 0, result.stderr + repr(result.exception)
  assert 'run-1' in result.stderr
  (run,) = _posts(state, '/runs')
  assert run['body']['display_name'] == 'nightly'
  assert run['body']['experiment_id'] == 'exp-1'
  # kfp sends the pipeline spec and, beside it, the kubernetes platform spec of the package.
  spec = run['body']['pipeline_spec']['pipeline_spec']
  assert set(spec['root']['dag']['tasks']) >= {'Fusion', 'Evaluator', 'Trainer.text'}
  assert spec['deploymentSpec']['executors']['Trainer.text_executor']['container'][
      'resources']['accelerator'] == {'count': '1', 'type': 'nvidia.com/gpu'}
  platform = run['body']['pipeline_spec']['platform_spec']['platforms']['kubernetes']
  assert platform['deploymentSpec']['executors']['Trainer.text_executor']['nodeSelector'] == {
      'labels': {'nvidia.com/gpu.present': 'true'}}
  assert all(r['authorization'] == 'Bearer s3cret' for r in state['requests'])
  assert _posts(state, '/experiments')[0]['body']['display_name'] == 'shop-ranking'


def test_schedule_create_list_delete(kfp_server, package, monkeypatch):
  host, state = kfp_server
  monkeypatch.setenv(kubeflow_client.TOKEN_ENV, 'from-env')
  runner = CliRunner(mix_stderr=False)
  created = runner.invoke(cli.main, ['schedule', 'create', '--host', host, '--package', package,
                                     '--cron', '0 3 * * *', '--max-concurrency', '1',
                                     '--name', 'nightly-retrain'])
  assert created.exit_code == 0, created.stderr + repr(created.exception)
  (recurring,) = _posts(state, '/recurringruns')
  body = recurring['body']
  assert body['display_name'] == 'nightly-retrain'
  assert body['trigger']['cron_schedule']['cron'] == '0 0 3 * * *'
  assert int(body['max_concurrency']) == 1 and body['no_catchup'] is True
  assert recurring['authorization'] == 'Bearer from-env'
  listed = runner.invoke(cli.main, ['schedule', 'list', '--host', host, '--json'])
  assert listed.exit_code == 0, listed.stderr
  rows = [json.loads(line) for line in listed.stdout.splitlines()]
  assert [(r['id'], r['name'], r['cron']) for r in rows] == [
      ('rr-1', 'nightly-retrain', '0 0 3 * * *')]
  deleted = runner.invoke(cli.main, ['schedule', 'delete', '--host', host, 'rr-1'])
  assert deleted.exit_code == 0, deleted.stderr
  assert state['recurring'] == {}
  missing = runner.invoke(cli.main, ['schedule', 'delete', '--host', host, 'rr-9'])
  assert missing.exit_code == 1 and 'HTTP 404' in missing.stderr


def test_a_rejected_spec_is_one_readable_line(kfp_server, package):
  host, state = kfp_server
  state['reject'] = True
  result = CliRunner(mix_stderr=False).invoke(cli.main, ['submit', '--host', host,
                                                         '--package', package])
  assert result.exit_code == 1
  assert 'rejected the request (HTTP 400)' in result.stderr
  assert 'pipeline spec is invalid: unknown executor' in result.stderr


def test_an_unreachable_host_is_one_readable_line(package):
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', 'http://127.0.0.1:9', '--package', package])
  assert result.exit_code == 1
  assert 'cannot reach Kubeflow Pipelines at http://127.0.0.1:9' in result.stderr


def test_missing_package_and_bad_cron_are_usage_errors(tmp_path):
  runner = CliRunner(mix_stderr=False)
  result = runner.invoke(cli.main, ['submit', '--host', 'http://x', '--package',
                                    str(tmp_path / 'nope.yaml')])
  assert result.exit_code == 2 and 'recfusion compile' in result.stderr
  with pytest.raises(kubeflow_client.KubeflowError, match='needs 5 fields'):
    kubeflow_client.kfp_cron('every night')
  assert kubeflow_client.kfp_cron('*/15 * * * *') == '0 */15 * * * *'
  assert kubeflow_client.kfp_cron('30 0 3 * * mon-fri') == '30 0 3 * * mon-fri'
  # The right number of fields, but no such minute or weekday.
  with pytest.raises(kubeflow_client.KubeflowError,
                     match=r"cron expression '61 3 \* \* \*' is not valid: .*out of range"):
    kubeflow_client.kfp_cron('61 3 * * *')
  with pytest.raises(kubeflow_client.KubeflowError, match="'0 3 \* \* someday' is not valid"):
    kubeflow_client.kfp_cron('0 3 * * someday')


def test_the_token_is_never_a_flag(runner=CliRunner()):
  result = runner.invoke(cli.main, ['submit', '--help'])
  assert '--token-file' in result.output
  assert not re.search(r'--token\b(?!-file)', result.output)


def test_refused_credentials_are_one_line_and_exit_1(kfp_server, package, monkeypatch):
  host, state = kfp_server
  state['unauthorized'] = True
  monkeypatch.setenv(kubeflow_client.TOKEN_ENV, 'expired')
  result = CliRunner(mix_stderr=False).invoke(cli.main, ['submit', '--host', host,
                                                         '--package', package])
  assert result.exit_code == 1
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, result.stderr
  assert 'refused the credentials (HTTP 401)' in lines[0]


def test_a_token_is_never_sent_over_plain_http_to_another_machine(package, monkeypatch):
  monkeypatch.setenv(kubeflow_client.TOKEN_ENV, 's3cret')
  runner = CliRunner(mix_stderr=False)
  result = runner.invoke(cli.main, ['submit', '--host', 'http://kfp.example:8888',
                                    '--package', package])
  assert result.exit_code == 2
  assert 'refusing to send the token over plain http://kfp.example:8888' in result.stderr
  assert '--insecure' in result.stderr
  # With --insecure the call is made (and fails here: no such host), one line again.
  insecure = runner.invoke(cli.main, ['submit', '--host', 'http://127.0.0.9:9', '--insecure',
                                      '--package', package])
  assert insecure.exit_code == 1 and 'cannot reach' in insecure.stderr


def test_a_missing_token_file_is_bad_input(package, tmp_path):
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', 'https://kfp.example', '--package', package,
      '--token-file', str(tmp_path / 'nope')])
  assert result.exit_code == 2 and 'cannot read token file' in result.stderr


def test_a_malformed_cron_is_bad_usage_before_any_request(kfp_server, package):
  host, state = kfp_server
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'schedule', 'create', '--host', host, '--package', package, '--cron', 'every night'])
  assert result.exit_code == 2 and 'needs 5 fields' in result.stderr
  assert state['requests'] == []


def test_submit_watch_follows_the_run_and_exits_with_its_result(kfp_server, package):
  host, state = kfp_server
  state['runs']['run-1'] = [
      _run_json('run-1', 'RUNNING', [('LogJoinExampleGen', 'RUNNING', None)]),
      _run_json('run-1', 'RUNNING', [('LogJoinExampleGen', 'SUCCEEDED', None),
                                     ('Transform', 'RUNNING', None)]),
      _run_json('run-1', 'RUNNING', [('LogJoinExampleGen', 'SUCCEEDED', None),
                                     ('Transform', 'RUNNING', None)]),
      _run_json('run-1', 'SUCCEEDED', [('LogJoinExampleGen', 'SUCCEEDED', None),
                                       ('Transform', 'SUCCEEDED', None)])]
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', host, '--package', package, '--watch', '--poll-seconds', '0.1'])
  assert result.exit_code == 0, result.stderr + repr(result.exception)
  lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
  # A line per change only: the unchanged third poll prints nothing.
  assert lines[1:] == ['▶ LogJoinExampleGen        RUNNING', 'run run-1: RUNNING',
                       '✔ LogJoinExampleGen        SUCCEEDED', '▶ Transform                RUNNING',
                       '✔ Transform                SUCCEEDED', 'run run-1: SUCCEEDED']
  gets = [r for r in state['requests'] if r['method'] == 'GET' and '/runs/run-1' in r['path']]
  assert len(gets) == 4


def test_a_failed_run_under_watch_exits_1_naming_the_task(kfp_server, package):
  host, state = kfp_server
  state['runs']['run-1'] = [_run_json(
      'run-1', 'FAILED', [('LogJoinExampleGen', 'SUCCEEDED', None),
                          ('Trainer.dcn', 'FAILED', 'OOMKilled')], error='task failed')]
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', host, '--package', package, '--watch', '--poll-seconds', '0.1'])
  assert result.exit_code == 1
  assert result.stderr.strip().splitlines()[-1] == 'run run-1 FAILED: Trainer.dcn: OOMKilled'


def test_watch_gives_up_after_its_timeout_and_says_the_run_goes_on(kfp_server):
  host, state = kfp_server
  state['runs']['run-7'] = [_run_json('run-7', 'RUNNING')]
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'status', '--host', host, 'run-7', '--watch', '--poll-seconds', '0.5', '--timeout', '1'])
  assert result.exit_code == 1
  assert 'run run-7 still RUNNING after 1 s (--timeout); it goes on' in result.stderr


def test_status_shows_the_run_and_each_task(kfp_server):
  host, state = kfp_server
  state['runs']['run-3'] = [_run_json('run-3', 'RUNNING', [('LogJoinExampleGen', 'SUCCEEDED',
                                                            None),
                                                           ('Trainer.text', 'RUNNING', None)])]
  runner = CliRunner(mix_stderr=False)
  shown = runner.invoke(cli.main, ['status', '--host', host, 'run-3', '--json'])
  assert shown.exit_code == 0, shown.stderr
  run = json.loads(shown.stdout)
  assert (run['run_id'], run['state'], run['finished']) == ('run-3', 'RUNNING', '')
  assert [(t['name'], t['state'], t['started']) for t in run['tasks']] == [
      ('LogJoinExampleGen', 'SUCCEEDED', '2026-12-02T03:00:00+00:00'),
      ('Trainer.text', 'RUNNING', '2026-12-02T03:01:00+00:00')]
  table = runner.invoke(cli.main, ['status', '--host', host, 'run-3'])
  assert table.exit_code == 0
  assert table.stdout.splitlines()[0] == 'run run-3 (nightly): RUNNING'
  assert 'Trainer.text' in table.stdout
  missing = runner.invoke(cli.main, ['status', '--host', host, 'run-404'])
  assert missing.exit_code == 1 and 'HTTP 404' in missing.stderr


def test_schedule_pause_and_resume(kfp_server, package):
  host, state = kfp_server
  runner = CliRunner(mix_stderr=False)
  created = runner.invoke(cli.main, ['schedule', 'create', '--host', host, '--package', package,
                                     '--cron', '0 3 * * *'])
  assert created.exit_code == 0, created.stderr
  paused = runner.invoke(cli.main, ['schedule', 'pause', '--host', host, 'rr-1'])
  assert paused.exit_code == 0, paused.stderr
  assert state['recurring']['rr-1']['status'] == 'DISABLED'
  assert _posts(state, '/recurringruns/rr-1:disable')
  listed = runner.invoke(cli.main, ['schedule', 'list', '--host', host, '--json'])
  assert json.loads(listed.stdout)['status'] == 'DISABLED'
  resumed = runner.invoke(cli.main, ['schedule', 'resume', '--host', host, 'rr-1'])
  assert resumed.exit_code == 0 and state['recurring']['rr-1']['status'] == 'ENABLED'
  unknown = runner.invoke(cli.main, ['schedule', 'pause', '--host', host, 'rr-9'])
  assert unknown.exit_code == 1 and 'HTTP 404' in unknown.stderr


def test_params_reach_the_run_typed_as_the_pipeline_declares_them(kfp_server, package):
  host, state = kfp_server
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', host, '--package', package, '--param', 'window_spans=2',
      '--param', 'text_epochs=1', '--param', 'ndcg10_floor=0.25',
      '--param', 'data_dir=gs://shop/2026-12'])
  assert result.exit_code == 0, result.stderr + repr(result.exception)
  (run,) = _posts(state, '/runs')
  assert run['body']['runtime_config']['parameters'] == {
      'window_spans': 2, 'text_epochs': 1, 'ndcg10_floor': 0.25, 'data_dir': 'gs://shop/2026-12'}
  scheduled = CliRunner(mix_stderr=False).invoke(cli.main, [
      'schedule', 'create', '--host', host, '--package', package, '--cron', '0 3 * * *',
      '--param', 'dcn_epochs=5'])
  assert scheduled.exit_code == 0, scheduled.stderr
  (recurring,) = _posts(state, '/recurringruns')
  assert recurring['body']['runtime_config']['parameters'] == {'dcn_epochs': 5}


@pytest.mark.parametrize('param, message', [
    ('epochs=3', '--param epochs: the compiled pipeline has no such parameter (it has: data_dir, '
                 'dcn_epochs, force, ndcg10_floor, sequence_epochs, text_epochs, tolerance, '
                 'window_spans)'),
    ('force=2', '--param force=2: must be between 0 and 1'),
    ('window_spans=two', '--param window_spans=two: expected a whole number'),
    ('window_spans=0', '--param window_spans=0: must be at least 1'),
    ('ndcg10_floor=7', '--param ndcg10_floor=7: must be between 0.0 and 1.0'),
    ('tolerance', "--param 'tolerance': expected NAME=VALUE"),
])
def test_a_bad_param_is_bad_usage_before_any_request(kfp_server, package, param, message):
  host, state = kfp_server
  result = CliRunner(mix_stderr=False).invoke(cli.main, [
      'submit', '--host', host, '--package', package, '--param', param])
  assert result.exit_code == 2
  assert ' '.join(result.stderr.split()) == f'error: {message}'
  assert state['requests'] == []
