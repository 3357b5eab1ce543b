"""Submitting and scheduling the compiled pipeline on a Kubeflow Pipelines v2 endpoint.

Thin over `kfp.Client` (KFP's own REST client): what this module adds is the product's rules,
namely the token never comes from a flag value (a file or an environment variable, so it stays
out of shell history), cron expressions in the usual 5 fields are accepted, and every failure
(unreachable host, rejected spec, bad token) becomes one readable line.
"""
import contextlib
import dataclasses
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

TOKEN_ENV = 'RECFUSION_KFP_TOKEN'


class KubeflowError(RuntimeError):
  """The cluster could not be reached or refused the request; the message says which."""


def read_token(token_file: Optional[str]) -> Optional[str]:
  if token_file:
    try:
      with open(token_file) as f:
        token = f.read().strip()
    except OSError as e:
      raise KubeflowError(f'cannot read token file {token_file}: {e.strerror}') from e
    if not token:
      raise KubeflowError(f'token file {token_file} is empty')
    return token
  return os.environ.get(TOKEN_ENV) or None


LOOPBACK_HOSTS = ('localhost', '127.0.0.1', '::1')


def check_transport(host: str, token: Optional[str], insecure: bool) -> None:
  """A bearer token over plain http:// can be read by anyone on the path. Allowed only to
  this machine (a port-forward) or with --insecure, said explicitly."""
  import urllib.parse
  parsed = urllib.parse.urlparse(host if '://' in host else f'http://{host}')
  if (token and parsed.scheme == 'http' and not insecure
      and parsed.hostname not in LOOPBACK_HOSTS):
    raise ValueError(f'refusing to send the token over plain {host}: use https://, or pass '
                     '--insecure for a cluster reached over a network you trust')


def kfp_cron(expression: str) -> str:
  """KFP wants 6 fields (seconds first); the usual 5-field cron gets second 0. A malformed
  expression is refused here, not by the cluster after the package was uploaded."""
  from croniter import croniter, CroniterError
  fields = expression.split()
  if len(fields) not in (5, 6):
    raise KubeflowError(f'cron expression {expression!r} needs 5 fields (minute hour day month '
                        'weekday) or 6 (with seconds first)')
  six = ' '.join(['0', *fields] if len(fields) == 5 else fields)
  try:
    croniter(six, second_at_beginning=True)
  except CroniterError as e:
    raise KubeflowError(f'cron expression {expression!r} is not valid: {e}') from None
  return six


def _explain(error: Exception, host: str) -> KubeflowError:
  from kfp_server_api.exceptions import ApiException
  if isinstance(error, ApiException):
    detail = (error.body or '').strip() if isinstance(error.body, str) else str(error.body)
    if error.status in (401, 403):
      return KubeflowError(f'{host} refused the credentials (HTTP {error.status}); set '
                           f'{TOKEN_ENV} or pass --token-file: {detail}')
    return KubeflowError(f'{host} rejected the request (HTTP {error.status}): {detail}')
  return KubeflowError(f'cannot reach Kubeflow Pipelines at {host}: '
                       f'{type(error).__name__}: {str(error).splitlines()[0][:300]}')


HEALTHZ_PATH = '/apis/v2beta1/healthz'
PROBE_TIMEOUT_S = 10


def _probe(host: str, token: Optional[str]) -> None:
  """One request to the health endpoint before kfp.Client, which retries it 5 times 5 s apart
  and logs a traceback for each: refused credentials or an unreachable host are known in
  one round trip and said in one line."""
  import urllib.error
  import urllib.request
  request = urllib.request.Request(host.rstrip('/') + HEALTHZ_PATH)
  if token:
    request.add_header('Authorization', f'Bearer {token}')
  try:
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
      return
  except urllib.error.HTTPError as e:
    if e.code in (401, 403):
      detail = e.read().decode('utf-8', 'replace').strip()[:300]
      raise KubeflowError(f'{host} refused the credentials (HTTP {e.code}); set {TOKEN_ENV} '
                          f'or pass --token-file: {detail}') from e
    # Other statuses (a proxy's 404 for an older API path, ...): let kfp decide.
  except (urllib.error.URLError, OSError, ValueError) as e:
    reason = getattr(e, 'reason', e)
    raise KubeflowError(f'cannot reach Kubeflow Pipelines at {host}: {reason}') from e


@contextlib.contextmanager
def _kfp_logs_silenced():
  """kfp logs every retry with a traceback on the root logger; the failure itself reaches
  the user as one line (_explain)."""
  previous = logging.root.manager.disable
  logging.disable(logging.CRITICAL)
  try:
    yield
  finally:
    logging.disable(previous)


# KFP v2 runtime states (V2beta1RuntimeState) after which a run changes no more.
FINAL_STATES = ('SUCCEEDED', 'SKIPPED', 'FAILED', 'CANCELED')
SUCCESS_STATES = ('SUCCEEDED', 'SKIPPED')


@dataclasses.dataclass
class TaskState:
  name: str
  state: str
  started: str = ''
  finished: str = ''
  error: str = ''


@dataclasses.dataclass
class RunState:
  """One KFP run as `status` and `submit --watch` show it."""
  run_id: str
  name: str
  state: str
  created: str = ''
  finished: str = ''
  error: str = ''
  tasks: List[TaskState] = dataclasses.field(default_factory=list)

  @property
  def done(self) -> bool:
    return self.state in FINAL_STATES

  @property
  def succeeded(self) -> bool:
    return self.state in SUCCESS_STATES


def _text(value: Any) -> str:
  """A server field as text: enums arrive as strings, times as datetimes, absent as None."""
  if value is None:
    return ''
  return value.isoformat(timespec='seconds') if hasattr(value, 'isoformat') else str(value)


def _error_text(status: Any) -> str:
  return (getattr(status, 'message', '') or '') if status is not None else ''


def _run_state(run: Any) -> RunState:
  details = getattr(run, 'run_details', None)
  tasks = [TaskState(name=_text(t.display_name), state=_text(t.state) or 'PENDING',
                     started=_text(t.start_time), finished=_text(t.end_time),
                     error=_error_text(t.error))
           for t in (getattr(details, 'task_details', None) or [])]
  return RunState(run_id=_text(run.run_id), name=_text(run.display_name),
                  state=_text(run.state) or 'PENDING', created=_text(run.created_at),
                  finished=_text(run.finished_at), error=_error_text(run.error),
                  tasks=sorted(tasks, key=lambda t: (t.started or '~', t.name)))


class Pipelines:
  """The few KFP operations recfusion needs, against one endpoint."""

  def __init__(self, host: str, token: Optional[str] = None, namespace: str = 'kubeflow'):
    import kfp
    self.host = host
    _probe(host, token)
    try:
      with _kfp_logs_silenced():
        self._client = kfp.Client(host=host, existing_token=token, namespace=namespace)
    except Exception as e:  # pylint: disable=broad-except  (kfp raises many kinds)
      raise _explain(e, host) from e

  def _call(self, function, *args, **kwargs):
    try:
      with _kfp_logs_silenced():
        return function(*args, **kwargs)
    except Exception as e:  # pylint: disable=broad-except
      raise _explain(e, self.host) from e

  def _experiment_id(self, experiment: str) -> str:
    return self._call(self._client.create_experiment, name=experiment).experiment_id

  def submit(self, package: str, experiment: str, run_name: str,
             arguments: Optional[Dict[str, Any]] = None) -> str:
    result = self._call(self._client.create_run_from_pipeline_package, package,
                        arguments=arguments or {}, run_name=run_name,
                        experiment_name=experiment)
    return result.run_id

  def schedule(self, package: str, experiment: str, name: str, cron: str,
               max_concurrency: int, arguments: Optional[Dict[str, Any]] = None) -> str:
    experiment_id = self._experiment_id(experiment)
    recurring = self._call(self._client.create_recurring_run, experiment_id=experiment_id,
                           job_name=name, cron_expression=kfp_cron(cron),
                           max_concurrency=max_concurrency, no_catchup=True,
                           pipeline_package_path=package, params=arguments or {})
    return recurring.recurring_run_id

  def schedules(self, experiment: Optional[str] = None) -> List[Dict[str, Any]]:
    kwargs = {'experiment_id': self._experiment_id(experiment)} if experiment else {}
    response = self._call(self._client.list_recurring_runs, page_size=100, **kwargs)
    rows = []
    for run in response.recurring_runs or []:
      trigger = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule \
          else ''
      rows.append({'id': run.recurring_run_id, 'name': run.display_name, 'cron': trigger,
                   'max_concurrency': run.max_concurrency, 'status': run.status})
    return rows

  def unschedule(self, recurring_run_id: str) -> None:
    self._call(self._client.delete_recurring_run, recurring_run_id)

  def pause(self, recurring_run_id: str) -> None:
    """No new runs start until `resume`; a run already started goes on."""
    self._call(self._client.disable_recurring_run, recurring_run_id)

  def resume(self, recurring_run_id: str) -> None:
    self._call(self._client.enable_recurring_run, recurring_run_id)

  def run(self, run_id: str) -> RunState:
    return _run_state(self._call(self._client.get_run, run_id))

  def watch(self, run_id: str, on_change: Callable[[RunState, RunState], None],
            poll_seconds: float = 10.0, timeout_seconds: Optional[float] = None,
            sleep: Callable[[float], None] = time.sleep) -> RunState:
    """Polls the run until it ends; `on_change(previous, current)` after every poll that
    changed the run's or a task's state. Raises KubeflowError on timeout (the run goes on)."""
    started = time.monotonic()
    previous = RunState(run_id=run_id, name='', state='')
    while True:
      current = self.run(run_id)
      if _signature(current) != _signature(previous):
        on_change(previous, current)
      if current.done:
        return current
      if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
        raise KubeflowError(f'run {run_id} still {current.state} after {timeout_seconds:.0f} s '
                            '(--timeout); it goes on: `recfusion status` shows it')
      previous = current
      sleep(poll_seconds)


def _signature(run: RunState):
  return run.state, tuple((t.name, t.state) for t in run.tasks)
