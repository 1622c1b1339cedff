"""The worker's Adam (``grader.verify.adam``): a training with it ends with the very weights
Keras's Adam gives, to the last bit, in fewer traced operations."""
from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
np = pytest.importorskip("numpy")

from grader.verify import worker  # noqa: E402
from grader.verify.adam import adam  # noqa: E402

CONV = [{"kind": "Conv2D", "args": {"filters": 4, "kernel_size": [3, 3], "padding": "same"}},
        {"kind": "BatchNormalization", "args": {}},
        {"kind": "Activation", "args": {"activation": "relu"}},
        {"kind": "MaxPooling2D", "args": {"pool_size": [2, 2]}},
        {"kind": "Flatten", "args": {}},
        {"kind": "Dense", "args": {"units": 10, "activation": "softmax"}}]
DENSE = [{"kind": "Flatten", "args": {}},
         {"kind": "Dense", "args": {"units": 16, "activation": "relu"}},
         {"kind": "BatchNormalization", "args": {}},
         {"kind": "Dropout", "args": {"rate": 0.3}},
         {"kind": "Dense", "args": {"units": 10, "activation": "softmax"}}]
NETWORKS = {"conv": CONV, "dense": DENSE}


def _train(layers: list, optimizer) -> list:
    """Weights and optimizer variables after three steps of ``fit`` from a fixed seed."""
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 8, 8, 1)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, size=48)]
    model = worker.build_model(keras, layers, [None, 8, 8, 1])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=True, verbose=0)
    return [np.asarray(w) for w in model.weights] + [np.asarray(v) for v in optimizer.variables]


@pytest.mark.parametrize("rate", [0.001, 0.05])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_a_training_ends_with_the_weights_keras_adam_gives_to_the_last_bit(network, rate):
    ours = _train(NETWORKS[network], adam(keras)(learning_rate=rate))
    theirs = _train(NETWORKS[network], keras.optimizers.Adam(learning_rate=rate))
    assert len(ours) == len(theirs)
    for mine, keras_own in zip(ours, theirs, strict=True):
        assert mine.dtype == keras_own.dtype and np.array_equal(mine, keras_own)


def test_amsgrad_is_left_to_keras_and_gives_its_numbers():
    ours = _train(CONV, adam(keras)(learning_rate=0.01, amsgrad=True))
    theirs = _train(CONV, keras.optimizers.Adam(learning_rate=0.01, amsgrad=True))
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def _traced_ops(optimizer) -> int:
    """Operations in the graph of one update of the conv network's variables."""
    model = worker.build_model(keras, CONV, [None, 8, 8, 1])
    optimizer.build(model.trainable_variables)
    grads = [tf.ones_like(v.value) for v in model.trainable_variables]
    step = tf.function(lambda: optimizer.apply(grads, model.trainable_variables))
    return len(step.get_concrete_function().graph.get_operations())


def test_the_update_is_traced_in_far_fewer_operations():
    assert _traced_ops(adam(keras)(learning_rate=0.001)) < 0.6 * _traced_ops(
        keras.optimizers.Adam(learning_rate=0.001))


def test_the_worker_trains_with_it_and_only_for_adam():
    job = {"learning_rate": 0.001}
    assert isinstance(worker.optimizer(keras, job), adam(keras))
    assert not isinstance(worker.optimizer(keras, {**job, "optimizer": "sgd"}), keras.optimizers.Adam)
