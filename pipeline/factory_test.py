"""The DAG the factory builds, by component id and edges (no runner involved)."""
from recfusion.config import load_config
from recfusion.pipeline import factory


def _upstream(config):
  pipeline = factory.create_pipeline(config, '/data', '/root', registry_dir='/registry')
  return {c.id: {u.id for u in c.upstream_nodes} for c in pipeline.components}


def test_trainers_read_the_production_model_only_when_they_warm_start():
  upstream = _upstream(load_config(overrides=['trainers.dcn.warm_start=false']))
  assert 'BaselineLookup' in upstream['Trainer.text']
  assert 'BaselineLookup' in upstream['Trainer.sequence']
  # Without warm start the Trainer stays cacheable when only the registry changed.
  assert upstream['Trainer.dcn'] == {'Transform', 'ImportSchemaGen'}


def test_fusion_waits_for_the_three_rankers():
  upstream = _upstream(load_config())
  assert {'Trainer.text', 'Trainer.dcn', 'Trainer.sequence', 'Transform'} <= upstream['Fusion']
