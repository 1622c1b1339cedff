"""BatchNormalization's training step as TensorFlow's fused kernel, in the verification worker.

Keras 3 normalizes a batch with separate operations (the moments, then the affine transform),
and differentiates each of them: in a cnn2 training those element-wise passes and reductions
were ~37 % of the CPU (``perf``, 2026-12-07). ``FusedBatchNormV3`` computes the same function
(the batch mean and the biased batch variance, ``(x - mean) / sqrt(var + epsilon) * gamma +
beta``) and its exact gradient in one kernel each, equal up to float32 rounding (the sums run
in another order, so a training's last digits move: the references were recalibrated): the
solution's training took 4.8 CPU-s unfused and 3.9 fused (one thread, three trainings each).

Only what the fused kernel computes as Keras does is fused: a training-mode call of a trainable
layer on float32 images normalized over their last axis, without a mask, renormalization or
synchronization. Everything else (inference, the recalibration before validation, a dense
layer's normalization) goes through Keras's own ``call``, and so does the whole cross-check
(``keras_own``): there the notebook's network is held against unpatched Keras, which computes
the training mode exactly as the kernel's Keras does (an honest network differs by 0.0).
Imported only by the worker (it needs TensorFlow); part of the training code the memo's key
fingerprints.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

#: per thread, how many ``keras_own`` blocks are open: none, so the fused kernel trains
_own = threading.local()


@contextlib.contextmanager
def keras_own() -> Iterator[None]:
    """Within (on this thread): every BatchNormalization call is Keras's own (the cross-check).
    A call traced into a graph keeps the path it was traced with; the cross-check's calls run
    eagerly."""
    _own.depth = getattr(_own, "depth", 0) + 1
    try:
        yield
    finally:
        _own.depth -= 1


@functools.cache
def batch_normalization(keras: Any) -> Any:
    """Keras's ``BatchNormalization`` with the fused training step (one class per process)."""
    import tensorflow as tf

    class BatchNormalization(keras.layers.BatchNormalization):
        """Keras's layer (same arguments, variables and inference), fused where it trains."""

        def call(self, inputs, training=None, mask=None):
            if not fusable(self, inputs, training, mask):
                return super().call(inputs, training=training, mask=mask)
            channels = inputs.shape[-1]
            scale = self.gamma if self.scale else tf.ones([channels], tf.float32)
            offset = self.beta if self.center else tf.zeros([channels], tf.float32)
            empty = tf.constant([], tf.float32)
            y, mean, unbiased, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=tf.convert_to_tensor(scale), offset=tf.convert_to_tensor(offset),
                mean=empty, variance=empty, epsilon=self.epsilon, exponential_avg_factor=1.0,
                data_format="NHWC", is_training=True)
            # the kernel normalizes with the biased variance and returns the unbiased one;
            # Keras's moving average takes the biased one
            count = tf.cast(tf.size(inputs) // channels, tf.float32)
            variance = unbiased * tf.maximum(count - 1.0, 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
            return y

    return BatchNormalization


def fusable(layer, inputs, training, mask) -> bool:
    """Whether the fused kernel computes exactly what Keras's training-mode ``call`` would."""
    return (not getattr(_own, "depth", 0) and training is True and layer.trainable and mask is None
            and len(inputs.shape) == 4 and inputs.shape[-1] is not None and layer.axis in (-1, 3)
            and str(getattr(inputs.dtype, "name", inputs.dtype)) == "float32"
            and layer.compute_dtype == "float32"
            and not getattr(layer, "renorm", False) and not getattr(layer, "synchronized", False))
