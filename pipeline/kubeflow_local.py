"""Runs a compiled Kubeflow pipeline spec on this machine, task by task, the way KFP would.

For each task in dependency order it builds the ExecutorInput that the KFP v2 launcher hands a
container (parameters from the spec, input artifacts from upstream tasks' executor outputs,
output artifacts with fresh URIs under a local root) and runs the task's own container command
and arguments as a subprocess, with `{{$}}` replaced by that JSON. It proves that the compiled
spec executes, not only that it compiles; it does not emulate KFP's caching or retries. A task
whose trigger condition (a TFX `Cond`, compiled to CEL) is false is skipped, and so is every task
downstream of a skipped one, as KFP's driver does. Given a
`metadata_path`, it also records the run into ML Metadata as the KFP v2 backend would
(pipeline/kfp_metadata_recorder.py).
"""
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

EXECUTOR_INPUT_PLACEHOLDER = '{{$}}'


def topological_order(tasks: Dict[str, Any]) -> List[str]:
  done: List[str] = []
  pending = dict(tasks)
  while pending:
    ready = sorted(name for name, task in pending.items()
                   if set(task.get('dependentTasks', [])) <= set(done))
    if not ready:
      raise ValueError(f'cycle or missing dependency among {sorted(pending)}')
    done += ready
    for name in ready:
      pending.pop(name)
  return done


def pipeline_arguments(spec: Dict[str, Any], given: Optional[Dict[str, Any]] = None
                       ) -> Dict[str, Any]:
  """Every runtime parameter's value for one run: the given ones, else the compiled defaults
  (as KFP fills a run's runtime_config)."""
  declared = spec.get('root', {}).get('inputDefinitions', {}).get('parameters', {})
  unknown = set(given or {}) - set(declared)
  if unknown:
    raise ValueError(f'no such pipeline parameter(s): {", ".join(sorted(unknown))}')
  return {name: (given or {}).get(name, definition.get('defaultValue'))
          for name, definition in declared.items()}


def executor_input(spec: Dict[str, Any], task_name: str, root: str,
                   produced: Dict[str, Dict[str, Any]],
                   arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  task = spec['root']['dag']['tasks'][task_name]
  component = spec['components'][task['componentRef']['name']]
  task_root = os.path.join(root, task_name)
  arguments = pipeline_arguments(spec) if arguments is None else arguments
  # Pipeline spec 2.1: plain JSON values, typed by the component's parameterType.
  inputs: Dict[str, Any] = {'parameterValues': {}, 'artifacts': {}}
  for name, parameter in task.get('inputs', {}).get('parameters', {}).items():
    if 'componentInputParameter' in parameter:  # a runtime parameter of the pipeline
      inputs['parameterValues'][name] = arguments[parameter['componentInputParameter']]
    else:
      inputs['parameterValues'][name] = parameter['runtimeValue']['constant']
  for name, artifact in task.get('inputs', {}).get('artifacts', {}).items():
    source = artifact['taskOutputArtifact']
    inputs['artifacts'][name] = {
        'artifacts': produced[source['producerTask']][source['outputArtifactKey']]}
  outputs: Dict[str, Any] = {'artifacts': {},
                             'outputFile': os.path.join(task_root, 'executor_output.json')}
  for key, definition in component.get('outputDefinitions', {}).get('artifacts', {}).items():
    outputs['artifacts'][key] = {'artifacts': [{
        'name': f'{task_name}-{key}',
        'type': definition['artifactType'],
        'uri': os.path.join(task_root, key),
        'metadata': {}}]}
  return {'inputs': inputs, 'outputs': outputs}


def _as_protobuf_numbers(value: Any) -> Any:
  """Artifact metadata as KFP's driver sees it, a protobuf Struct: every number a double (so
  TFX's `== 1.0` on an int property holds, as it does on a cluster)."""
  if isinstance(value, bool):
    return value
  if isinstance(value, (int, float)):
    return float(value)
  if isinstance(value, dict):
    return {k: _as_protobuf_numbers(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_as_protobuf_numbers(v) for v in value]
  return value


def condition_holds(condition: str, task_input: Dict[str, Any]) -> bool:
  """A task's `triggerPolicy.condition`, evaluated with a CEL implementation on the task's
  inputs, as KFP's driver evaluates it before it starts the container."""
  import celpy
  inputs = {
      'parameterValues': task_input['inputs']['parameterValues'],
      'artifacts': {name: {'artifacts': [
          dict(artifact, metadata=_as_protobuf_numbers(artifact.get('metadata', {})))
          for artifact in listed['artifacts']]}
          for name, listed in task_input['inputs']['artifacts'].items()}}
  environment = celpy.Environment()
  program = environment.program(environment.compile(condition))
  return bool(program.evaluate({'inputs': celpy.json_to_cel(inputs)}))


def _produced_artifacts(task_input: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
  """Output artifacts as the task reported them (custom properties, split names ...)."""
  declared = {k: v['artifacts'] for k, v in task_input['outputs']['artifacts'].items()}
  output_file = task_input['outputs']['outputFile']
  if not os.path.exists(output_file):
    return declared
  with open(output_file) as f:
    reported = json.load(f).get('artifacts', {})
  merged = {}
  for key, artifacts in declared.items():
    updates = reported.get(key, {}).get('artifacts', [])
    merged[key] = [dict(artifact, **{k: v for k, v in update.items() if k != 'name'})
                   for artifact, update in zip(artifacts, updates or artifacts)]
  return merged


def run(job: Dict[str, Any], root: str, log: Optional[Callable[[str], None]] = None,
        extra_env: Optional[Dict[str, str]] = None, metadata_path: Optional[str] = None,
        run_id: str = 'local-run', parallelism: int = 1,
        arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Dict[str, Any]]:
  """Runs every task of a PipelineJob dict; returns each run task's output artifacts (a
  skipped task has none). Up to
  `parallelism` tasks whose upstream tasks are done run at once, as KFP runs them.
  `arguments`: runtime parameter values, as `recfusion submit --param` gives them."""
  spec = job['pipelineSpec']
  arguments = pipeline_arguments(spec, arguments)
  tasks = spec['root']['dag']['tasks']
  recorder = None
  if metadata_path:
    from recfusion.pipeline.kfp_metadata_recorder import KfpRunRecorder
    recorder = KfpRunRecorder(metadata_path, spec['pipelineInfo']['name'], run_id)
  executors = spec['deploymentSpec']['executors']
  env = dict(os.environ, **(extra_env or {}))
  # The container's `python` is this environment's, as it is the image's on a cluster.
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  produced: Dict[str, Dict[str, Any]] = {}
  skipped: List[str] = []
  pending = topological_order(tasks)
  running: Dict[str, tuple] = {}

  def skip(task_name: str) -> bool:
    """Whether KFP would skip the task: an upstream task was skipped, or its condition is
    false."""
    upstream = [t for t in tasks[task_name].get('dependentTasks', []) if t in skipped]
    condition = tasks[task_name].get('triggerPolicy', {}).get('condition')
    if upstream:
      reason = f'upstream {upstream[0]} skipped'
    elif condition and not condition_holds(
        condition, executor_input(spec, task_name, root, produced, arguments)):
      reason = f'condition false: {condition}'
    else:
      return False
    skipped.append(task_name)
    if log:
      log(f'{task_name}: skipped ({reason})')
    return True

  def start(task_name: str) -> None:
    container = executors[spec['components'][tasks[task_name]['componentRef']['name']][
        'executorLabel']]['container']
    task_input = executor_input(spec, task_name, root, produced, arguments)
    os.makedirs(os.path.join(root, task_name), exist_ok=True)
    command = list(container['command']) + [
        json.dumps(task_input) if arg == EXECUTOR_INPUT_PLACEHOLDER else arg
        for arg in container['args']]
    if log:
      log(f'{task_name}: {" ".join(container["command"])} '
          f'{container["args"][1] if len(container["args"]) > 1 else ""}')
    with open(os.path.join(root, task_name, 'log.txt'), 'w') as output:
      process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    running[task_name] = (process, task_input, container)

  def finish(task_name: str) -> None:
    process, task_input, container = running.pop(task_name)
    succeeded = process.returncode == 0
    if succeeded:
      produced[task_name] = _produced_artifacts(task_input)
    if recorder:
      recorder.task(task_name, container['image'], succeeded,
                    {k: v['artifacts'] for k, v in task_input['inputs']['artifacts'].items()},
                    produced.get(task_name, {}))
    if not succeeded:
      with open(os.path.join(root, task_name, 'log.txt')) as f:
        tail = f.read()[-3000:]
      raise RuntimeError(f'task {task_name} failed (exit {process.returncode}):\n{tail}')

  completed = False
  try:
    while pending or running:
      for task_name in [n for n in pending if set(tasks[n].get('dependentTasks', []))
                        <= set(produced) | set(skipped)]:
        if skip(task_name):
          pending.remove(task_name)
          continue
        if len(running) >= parallelism:
          break
        pending.remove(task_name)
        start(task_name)
      time.sleep(0.1)
      for task_name in [n for n, (process, _, _) in running.items() if process.poll() is not None]:
        finish(task_name)
    completed = True
  finally:
    # A failed task stops the run here at once (KFP would let running siblings finish first);
    # whole process groups, so no task's children outlive it.
    for process, _, _ in running.values():
      try:
        os.killpg(process.pid, signal.SIGKILL)
      except ProcessLookupError:  # already gone
        pass
      process.wait()
    if recorder:
      recorder.finish(succeeded=completed)
  return produced
