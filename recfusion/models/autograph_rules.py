"""AutoGraph leaves Keras's own code alone, as it did before Keras 2 moved to `tf_keras`.

AutoGraph rewrites the Python source of every function a tf.function calls, except in modules
its rules exempt. The rules exempt `keras`, but since TensorFlow 2.16 Keras 2 is the `tf_keras`
package, which they do not name: every Trainer transpiled hundreds of Keras internals (the
training step, optimizers, metrics, callbacks) on each run, about 36 of the 63 s of a one-epoch
DCN fit on the embedded shop (with them left alone: 18 s, the same losses and AUCs to the 4
digits Keras logs). TensorFlow Decision Forests' Keras model is the same case (the forest's
predictions were identical with and without). That code is written for graph mode and was never
converted before; our own layers and losses still are.
"""
# AutoGraph has no public API for its rules; this is the tuple conversion.py reads on each call.
from tensorflow.python.autograph.core import config, config_lib

UNCONVERTED_PACKAGES = ('tf_keras', 'tensorflow_decision_forests')


def leave_keras_unconverted() -> None:
  missing = [package for package in UNCONVERTED_PACKAGES
             if not any(isinstance(rule, config_lib.DoNotConvert) and rule.matches(package)
                        for rule in config.CONVERSION_RULES)]
  config.CONVERSION_RULES = (*(config_lib.DoNotConvert(p) for p in missing),
                             *config.CONVERSION_RULES)
