"""AutoGraph skips Keras's internals and still converts our own code."""
import tf_keras
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion

from recfusion.models import autograph_rules, losses


def test_keras_internals_are_left_alone_and_ours_still_converted():
  autograph_rules.leave_keras_unconverted()
  assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
  assert conversion.is_allowlisted(tf_keras.Model.train_step)
  import tensorflow_decision_forests as tfdf
  assert conversion.is_allowlisted(tfdf.keras.GradientBoostedTreesModel.train_step)
  assert not conversion.is_allowlisted(losses.listwise)


def test_the_rule_is_added_once():
  autograph_rules.leave_keras_unconverted()
  rules = config.CONVERSION_RULES
  autograph_rules.leave_keras_unconverted()
  assert config.CONVERSION_RULES == rules
  assert sum(rule.matches('tf_keras') for rule in rules) == 1
  assert sum(rule.matches('tensorflow_decision_forests') for rule in rules) == 1
