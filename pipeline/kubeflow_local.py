"""Runs a compiled Kubeflow pipeline spec on this machine, task by task, the way KFP would.

For each task in dependency order it builds the ExecutorInput that the KFP v2 launcher hands a
container (parameters from the spec, input artifacts from upstream tasks' executor outputs,
output artifacts with fresh URIs under a local root) and runs the task's own container command
and arguments as a subprocess, with `{{$}}` replaced by that JSON. It proves that the compiled
spec executes, not only that it compiles; it does not emulate KFP's caching or retries.
"""
import json
import os
import subprocess
import sys
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


def executor_input(spec: Dict[str, Any], task_name: str, root: str,
                   produced: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  task = spec['root']['dag']['tasks'][task_name]
  component = spec['components'][task['componentRef']['name']]
  task_root = os.path.join(root, task_name)
  inputs: Dict[str, Any] = {'parameters': {}, 'artifacts': {}}
  for name, parameter in task.get('inputs', {}).get('parameters', {}).items():
    inputs['parameters'][name] = parameter['runtimeValue']['constantValue']
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
        extra_env: Optional[Dict[str, str]] = None) -> Dict[str, Dict[str, Any]]:
  """Runs every task of a PipelineJob dict; returns each task's output artifacts."""
  spec = job['pipelineSpec']
  executors = spec['deploymentSpec']['executors']
  env = dict(os.environ, **(extra_env or {}))
  # The container's `python` is this environment's, as it is the image's on a cluster.
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  produced: Dict[str, Dict[str, Any]] = {}
  for task_name in topological_order(spec['root']['dag']['tasks']):
    task = spec['root']['dag']['tasks'][task_name]
    container = executors[spec['components'][task['componentRef']['name']]['executorLabel']][
        'container']
    task_input = executor_input(spec, task_name, root, produced)
    os.makedirs(os.path.join(root, task_name), exist_ok=True)
    command = list(container['command']) + [
        json.dumps(task_input) if arg == EXECUTOR_INPUT_PLACEHOLDER else arg
        for arg in container['args']]
    if log:
      log(f'{task_name}: {" ".join(container["command"])} '
          f'{container["args"][1] if len(container["args"]) > 1 else ""}')
    with open(os.path.join(root, task_name, 'log.txt'), 'w') as output:
      finished = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    if finished.returncode != 0:
      with open(os.path.join(root, task_name, 'log.txt')) as f:
        tail = f.read()[-3000:]
      raise RuntimeError(f'task {task_name} failed (exit {finished.returncode}):\n{tail}')
    produced[task_name] = _produced_artifacts(task_input)
  return produced
