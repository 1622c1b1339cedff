"""The worker's fused BatchNormalization (``grader.verify.fused``): where it trains it computes
what Keras's layer computes (outputs, gradients, moving statistics), and everywhere else it is
Keras's layer."""
from __future__ import annotations

import itertools

import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
np = pytest.importorskip("numpy")

from grader.verify.fused import batch_normalization  # noqa: E402


def _pair(args: dict, shape: tuple):
    """Keras's layer and the fused one, built for ``shape`` with the same random variables."""
    rng = np.random.default_rng(1)
    plain, fused = keras.layers.BatchNormalization(**args), batch_normalization(keras)(**args)
    for layer in (plain, fused):
        layer.build(shape)
    for variable, other in zip(plain.weights, fused.weights, strict=True):
        value = rng.uniform(0.5, 1.5, size=variable.shape).astype("float32")
        variable.assign(value)
        other.assign(value)
    return plain, fused


def _run(layer, x, weights, training):
    """Output, the gradients of a weighted sum (input first, then the trainable variables), and
    the moving statistics afterwards."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(y * weights)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    stats = [np.asarray(v) for v in (layer.moving_mean, layer.moving_variance)]
    return [np.asarray(y)] + [np.asarray(g) for g in grads] + stats


def _ops(layer, shape, training) -> set[str]:
    fn = tf.function(lambda x: layer(x, training=training))
    return {op.type for op in fn.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph.get_operations()}


#: every combination of the arguments the allow-list lets a BatchNormalization have (its
#: regularizers and constraints never reach the rebuilt layer), a few values of each number
ARGUMENTS = [dict(zip(("center", "scale", "momentum", "epsilon", "axis"), values, strict=True))
             for values in itertools.product((True, False), (True, False), (0.99, 0.5),
                                             (1e-3, 1e-5, 0.05), (-1, 3))]


@pytest.mark.parametrize("spread", [3.0, 0.1])  # 0.1: the epsilon (1e-3) matters
@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()))
def test_the_fused_training_step_computes_what_keras_computes(args, spread):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, spread, size=(5, 6, 6, 4)).astype("float32")
    weights = rng.normal(size=x.shape).astype("float32")  # a plain sum's gradient would vanish
    plain, fused = _pair(args, x.shape)

    assert "FusedBatchNormV3" in _ops(fused, x.shape, True)
    mine, theirs = _run(fused, x, weights, True), _run(plain, x, weights, True)
    assert len(mine) == len(theirs) == 4 + len(plain.trainable_weights)
    for got, want in zip(mine, theirs, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_in_a_traced_step_with_any_batch_size_it_computes_what_keras_computes():
    """``fit`` traces its step with an unknown batch size (the last batch is smaller), and in a
    graph oneDNN may run its own kernel: each batch size against Keras's layer in a graph."""
    rng = np.random.default_rng(4)
    plain, fused = _pair({"momentum": 0.9}, (None, 6, 6, 4))
    spec = tf.TensorSpec((None, 6, 6, 4), tf.float32)

    def step(layer):
        @tf.function(input_signature=[spec, spec])
        def run(x, weights):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True) * weights)
            return [loss, *tape.gradient(loss, [x, *layer.trainable_weights])]
        return run

    mine, theirs = step(fused), step(plain)
    for size in (8, 3, 1):
        x = rng.normal(2.0, 0.5, size=(size, 6, 6, 4)).astype("float32")
        weights = rng.normal(size=x.shape).astype("float32")
        for got, want in zip(mine(x, weights), theirs(x, weights), strict=True):
            # gamma's gradient sums hundreds of products that cancel: float32's rounding of
            # the sum in another order is relative to its largest entries
            want = np.asarray(want)
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-4 * np.abs(want).max())
        for variable, other in zip(fused.non_trainable_weights, plain.non_trainable_weights, strict=True):
            np.testing.assert_allclose(np.asarray(variable), np.asarray(other), rtol=2e-5, atol=2e-5)
    assert "FusedBatchNormV3" in {op.type for op in mine.get_concrete_function().graph.get_operations()}


@pytest.mark.parametrize(("args", "shape", "training", "frozen"), [
    ({}, (5, 6, 6, 4), False, False),      # inference: the moving statistics
    ({}, (5, 7), True, False),             # a dense layer's normalization
    ({"axis": 1}, (5, 4, 6, 6), True, False),  # not the last axis
    ({}, (5, 6, 6, 4), True, True),        # frozen: Keras normalizes with the moving statistics
])
def test_everything_else_is_kerass_own_call(args, shape, training, frozen):
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 2.0, size=shape).astype("float32")
    weights = rng.normal(size=shape).astype("float32")
    plain, fused = _pair(args, shape)
    for layer in (plain, fused):
        layer.trainable = not frozen

    assert "FusedBatchNormV3" not in _ops(fused, shape, training)
    for got, want in zip(_run(fused, x, weights, training), _run(plain, x, weights, training), strict=True):
        assert np.array_equal(got, want)


def test_the_worker_builds_the_fused_layer_and_keras_sees_a_batchnormalization():
    from grader.verify.worker import build_model, recalibrate_batchnorm

    model = build_model(keras, [{"kind": "BatchNormalization", "args": {"momentum": 0.9}}], [None, 4, 4, 2])
    layer = model.layers[-1]
    assert type(layer) is batch_normalization(keras)
    assert isinstance(layer, keras.layers.BatchNormalization) and layer.momentum == 0.9
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(8, 4, 4, 2)).astype("float32")
    recalibrate_batchnorm(keras, model, x)  # finds it: the statistics before each validation
    np.testing.assert_allclose(np.asarray(layer.moving_mean), x.mean(axis=(0, 1, 2)), rtol=1e-5)


def test_the_cross_check_holds_the_notebook_against_kerass_own_layer_to_the_digit():
    """The kernel computes with Keras's own BatchNormalization: the worker's cross-check does
    too (``fused.keras_own``), fresh or with the network it just trained, so an honest network
    differs by 0.0 in every mode."""
    from grader.verify import warmup, worker

    from tests.test_verify_worker import _exported

    training = dict(warmup.JOB, seed=1)
    keras.utils.set_random_seed(5)
    student = keras.Sequential([keras.Input(tuple(training["input_shape"][1:])),
                                keras.layers.Conv2D(2, (3, 3), padding="same"),
                                keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
                                keras.layers.Flatten(), keras.layers.Dense(10)])
    layers = [{"kind": "Conv2D", "args": {"filters": 2, "kernel_size": [3, 3], "padding": "same"}},
              {"kind": "BatchNormalization", "args": {}}, {"kind": "Activation", "args": {"activation": "relu"}},
              {"kind": "Flatten", "args": {}}, {"kind": "Dense", "args": {"units": 10}}]
    job = {"kind": "crosscheck", "probe": _exported(keras, np, student, 11), "seed": 11,
           "input_shape": training["input_shape"], "layers": layers,
           "names": [layer.name for layer in student.layers]}
    kept = worker.Kept()
    assert worker.answer(dict(training, layers=layers), warmup.Arrays(), kept)["ok"]
    for answer in (worker.crosscheck(job), worker.answer(job, warmup.Arrays(), kept)):
        found = answer["crosscheck"]
        assert found["matched"] and found["compared"] >= 10, found
        assert found["max_abs_diff"] == 0.0


def test_after_a_cross_check_the_worker_trains_fused_again():
    """The cross-check's ``keras_own`` ends with it, also when it fails: a later training in
    the same worker is fused, as the memo's key says (the tiny Adam steps of a test training
    would hide the difference in its weights, so the traced step is looked at)."""
    from grader.verify import warmup, worker

    from tests.test_verify_worker import _exported

    keras.utils.set_random_seed(6)
    model = worker.build_model(keras, warmup.JOB["layers"], warmup.JOB["input_shape"])
    job = {"kind": "crosscheck", "probe": _exported(keras, np, model, 3), "seed": 3,
           "input_shape": warmup.JOB["input_shape"], "layers": warmup.JOB["layers"],
           "names": [layer.name for layer in model.layers]}
    assert worker.crosscheck(job)["crosscheck"]["matched"]
    broken = dict(job, layers=[{"kind": "Conv2D", "args": {"filters": "many"}}])
    assert worker.crosscheck(broken)["ok"] is False
    assert "FusedBatchNormV3" in _ops(batch_normalization(keras)(), (2, 4, 4, 3), True)


def test_the_generated_arguments_cover_every_argument_the_allow_list_admits():
    """A new allowed argument must join ``ARGUMENTS``: the fused path would otherwise meet it
    untested (regularizers and constraints act on the variables, never in ``call``)."""
    from grader.layers.allowlist import ALLOWED

    admitted = {name for name in ALLOWED["BatchNormalization"][1]
                if not name.endswith(("_regularizer", "_constraint"))}
    assert admitted == set(ARGUMENTS[0])
