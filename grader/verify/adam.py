"""Keras's Adam with each step's scalars computed once, in the verification worker.

Keras 3 updates every variable on its own (``Adam.update_step``), and so builds the step's
scalars (the learning rate, the step, both beta powers, ``alpha``) again for each of them,
inside a distribution wrapper per variable: in a cnn2 training step ~20 graph operations per
variable, ~440 of the ~1,000 that ``fit`` traces. Tracing them was ~0.5 s of a ~4.7 s training
(Adam's first step 1.05 s against SGD's 0.57 s, 2026-12-07). Here the scalars are built once per
step and dtype, and each variable gets only its element-wise update: the same operations on the
same values in the same order (``m += (g - m) * (1 - beta_1)``; ``v += (g² - v) * (1 - beta_2)``;
``var -= m * alpha / (sqrt(v) + epsilon)``), so a training's weights are equal to the last bit
(``tests/test_verify_adam.py``), and the references need no recalibration.

Only the plain case takes this path: no AMSGrad, no distribution strategy (neither where it is
applied nor where it was made); anything else is
Keras's own ``_backend_update_step``. Everything around the update (gradient clipping, weight
decay, the step counter, EMA) stays Keras's ``apply``. Imported only by the worker (it needs
TensorFlow); part of the training code the memo's key fingerprints.
"""
from __future__ import annotations

import functools
from typing import Any


@functools.cache
def adam(keras: Any) -> Any:
    """Keras's ``Adam`` with the per-step scalars shared (one class per process)."""
    import tensorflow as tf

    class Adam(keras.optimizers.Adam):
        """Keras's optimizer (same arguments, variables and numbers), traced in fewer operations."""

        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            if self.amsgrad or tf.distribute.has_strategy() \
                    or getattr(self, "_distribution_strategy", None) is not tf.distribute.get_strategy():
                return super()._backend_update_step(grads, trainable_variables, learning_rate)
            scalars: dict = {}
            for grad, variable in zip(grads, trainable_variables, strict=True):
                var = variable.value if isinstance(variable, keras.Variable) else variable
                if var.dtype not in scalars:
                    scalars[var.dtype] = step_scalars(self, tf, learning_rate, var.dtype)
                alpha, keep_1, keep_2, epsilon = scalars[var.dtype]
                index = self._get_variable_index(variable)
                m, v = self._momentums[index].value, self._velocities[index].value
                gradient = tf.cast(grad, var.dtype)
                m.assign_add((gradient - m) * keep_1)
                v.assign_add((tf.square(gradient) - v) * keep_2)
                var.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))

    return Adam


def step_scalars(optimizer, tf, learning_rate, dtype) -> tuple:
    """``alpha``, ``1 - beta_1``, ``1 - beta_2`` and ``epsilon`` as ``Adam.update_step`` computes
    them for a variable of ``dtype`` (the same operations, so the same values)."""
    lr = tf.cast(learning_rate, dtype)
    local_step = tf.cast(optimizer.iterations + 1, dtype)
    beta_1_power = tf.pow(tf.cast(optimizer.beta_1, dtype), local_step)
    beta_2_power = tf.pow(tf.cast(optimizer.beta_2, dtype), local_step)
    alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    return (alpha, tf.constant(1 - optimizer.beta_1, dtype), tf.constant(1 - optimizer.beta_2, dtype),
            tf.constant(optimizer.epsilon, dtype))
