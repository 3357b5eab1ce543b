"""The DAG the factory builds, by component id and edges (no runner involved)."""
import pytest

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
  # Trees cannot continue from weights: the forest never reads the production model.
  assert upstream['Trainer.gbt'] == {'Transform', 'ImportSchemaGen'}


def test_fusion_waits_for_every_ranker():
  upstream = _upstream(load_config())
  assert {'Trainer.text', 'Trainer.dcn', 'Trainer.sequence', 'Trainer.gbt',
          'Transform'} <= upstream['Fusion']


def test_transform_writes_what_the_dag_reads_and_no_cache_nothing_reads():
  import json
  pipeline = factory.create_pipeline(load_config(), '/data', '/root', registry_dir='/registry')
  transform = next(c for c in pipeline.components if c.id == 'Transform')
  splits = json.loads(transform.exec_properties['splits_config'])
  assert splits == {'analyze': ['train'], 'transform': ['train', 'validation']}
  assert 'updated_analyzer_cache' not in transform.outputs
  assert 'analyzer_cache' not in transform.inputs


def test_a_ranker_section_missing_a_hyperparameter_fails_before_any_component_runs():
  from recfusion.config import ConfigError
  config = load_config()
  del config.trainers['gbt']['max_depth']
  with pytest.raises(ConfigError, match='trainers.gbt: trainer config lacks max_depth'):
    factory.create_pipeline(config, '/data', '/root', registry_dir='/registry')


def test_a_fourth_ranker_and_a_new_fusion_method_need_only_their_own_code():
  """A toy ranker and a toy fusion method, registered here and touching no other module, reach
  the Trainers, Fusion, the TFMA config and the config check."""
  import dataclasses

  import numpy as np
  import tf_keras as keras

  from recfusion import features
  from recfusion.config import ConfigError
  from recfusion.models import rankers
  from recfusion.models.fusion import methods

  def build_popularity(inputs, vocabularies, hparams):
    ids = inputs['item_idx']
    prior = keras.layers.Embedding(vocabularies.size(features.ITEMS), 1,
                                   name=f'prior__{features.ITEMS.name}')(ids)
    return keras.Model({'item_idx': ids}, keras.layers.Flatten()(prior), name='popularity')

  toy_ranker = rankers.register(rankers.Ranker('popularity', build_popularity, __name__))

  @methods.register
  class BestOnly(methods.Weighted):
    """All weight on the ranker with the best validation NDCG@10."""
    name = 'toy_best_only'

  try:
    config = load_config(overrides=['fusion.method=toy_best_only'])
    config = dataclasses.replace(config, trainers={
        **config.trainers, 'popularity': dict(config.trainers['dcn'])})
    pipeline = factory.create_pipeline(config, '/data', '/root', registry_dir='/registry')
    nodes = {c.id: c for c in pipeline.components}
    trainer = nodes['Trainer.popularity']
    assert trainer.exec_properties['custom_config'] is not None
    assert 'popularity_model' in nodes['Fusion'].inputs
    assert nodes['Fusion'].exec_properties['method'] == 'toy_best_only'
    assert 'Trainer.popularity' in {u.id for u in nodes['Fusion'].upstream_nodes}
    eval_config = nodes['Evaluator'].exec_properties['eval_config']
    assert '"popularity"' in eval_config
    assert toy_ranker.custom_config({})['ranker_module'] == __name__
    fitted, _ = methods.fit('toy_best_only', ['a', 'b'], {'a': np.array([1., 0.]),
                                                        'b': np.array([0., 1.])}, {},
                            np.array([1., 0.]), np.array(['r', 'r']), grid_step=0.5)
    assert fitted.mean_weights == {'a': 1.0, 'b': 0.0}
    # The run summary lists whatever rankers the FusionReport holds, the new one included.
    from recfusion.report import tables
    rows = tables.model_rows({'metrics': {'popularity': {'ndcg@10': 0.5, 'auc': 0.6},
                                          'fused': {'ndcg@10': 0.7, 'auc': 0.8}},
                              'weights': {'popularity': 1.0}}, {'popularity': 0.45})
    assert rows[0] == ['popularity', '1.0000', '0.5000', '0.6000', '0.4500']
  finally:
    rankers._REGISTRY.pop('popularity', None)  # pylint: disable=protected-access
    methods._REGISTRY.pop('toy_best_only', None)  # pylint: disable=protected-access
  # Unregistered again: the same config is refused with the key named, before anything runs.
  with pytest.raises(ConfigError, match="trainers.popularity: no ranker named 'popularity'"):
    factory.create_pipeline(config, '/data', '/root', registry_dir='/registry')
