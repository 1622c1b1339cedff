"""The verification worker's training (``grader.verify.worker``), in this process: what makes
it faster must not change what it computes."""
from __future__ import annotations

import pytest


def _train(keras, np, prebuilt: bool) -> tuple[int, list]:
    """A tiny model fitted one epoch with fixed seeds: (training-step traces, final weights)."""
    from grader.verify.worker import build_state

    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=96)]
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    if prebuilt:
        build_state(model, y)
    traced = []
    step = model.train_step
    model.train_step = lambda data: (traced.append(1), step(data))[1]
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0)
    return len(traced), [w.copy() for w in model.get_weights()] + [history.history["accuracy"]]


def test_the_training_step_is_traced_once_and_trains_to_the_same_numbers():
    keras = pytest.importorskip("keras")
    import numpy as np

    traces, weights = _train(keras, np, prebuilt=True)
    _, unbuilt = _train(keras, np, prebuilt=False)
    assert traces == 1  # left to fit, the optimizer's and metrics' variables cost a second trace
    for mine, theirs in zip(weights, unbuilt, strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))


def test_the_worker_refuses_matplotlib_which_keras_would_import_only_to_plot():
    import subprocess
    import sys

    # installed here (a dependency of the grader): the refusal, not its absence, is tested
    code = ("import importlib.util; print(importlib.util.find_spec('matplotlib') is not None)\n"
            "from grader.verify import runtime; runtime.refuse_unused_modules()\n"
            "try:\n    import matplotlib.pyplot\nexcept ImportError:\n    print('refused')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "refused"], out.stderr


def test_fits_dataset_of_arrays_runs_without_autotuning_and_trains_to_the_same_numbers(monkeypatch):
    """tf.data's autotuning thread made the iterator's deletion at the end of ``fit`` wait up
    to ~2.4 s in half the trainings; turned off, every epoch's batches stay the same."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    import numpy as np

    from grader.verify.runtime import untune_array_batches
    adapter = pytest.importorskip("keras.src.trainers.data_adapters.array_data_adapter")
    # the patch is process-wide in the worker; here it is undone after the test
    monkeypatch.setattr(adapter.ArrayDataAdapter, "get_tf_dataset",
                        adapter.ArrayDataAdapter.get_tf_dataset)
    _, tuned = _train(keras, np, prebuilt=True)
    assert untune_array_batches(tf) and untune_array_batches(tf)  # twice: wrapped once
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    dataset = adapter.ArrayDataAdapter(x, y, batch_size=4, shuffle=True).get_tf_dataset()
    assert dataset.options().autotune.enabled is False
    _, untuned = _train(keras, np, prebuilt=True)  # two epochs: the second shuffle too
    for mine, theirs in zip(untuned, tuned, strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))


def test_the_model_is_built_once_with_the_weights_a_layer_by_layer_build_draws(spec):
    """``build_model`` builds the Sequential from the whole list (``add`` rebuilt it after every
    layer): the same layers, built in the same order, so the same initial weights."""
    keras = pytest.importorskip("keras")
    import numpy as np

    from grader.verify import worker

    jobs = [{"kind": layer["class_name"], "args": layer["args"]} for layer in spec.layers]
    builds = []
    build = keras.Sequential.build
    keras.utils.set_random_seed(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Sequential, "build", lambda self, *a: (builds.append(1), build(self, *a))[1])
        model = worker.build_model(keras, jobs, spec.input_shape)
    keras.utils.set_random_seed(1)
    by_layer = keras.Sequential([keras.Input(shape=tuple(spec.input_shape[1:]))])
    for layer in model.layers:
        by_layer.add(type(layer).from_config(layer.get_config()))
    assert len(builds) == 1 and len(model.layers) == len(spec.layers)
    assert [type(layer) for layer in by_layer.layers] == [type(layer) for layer in model.layers]
    for mine, theirs in zip(model.get_weights(), by_layer.get_weights(), strict=True):
        assert np.array_equal(mine, theirs)


def test_the_warm_up_leaves_nothing_that_changes_the_next_training():
    """``grader.verify.warmup`` runs in every worker before its first job: a training after it
    must equal one without it, to the last digit."""
    keras = pytest.importorskip("keras")
    import numpy as np

    from grader.verify import warmup
    from grader.verify.worker import train

    _, before = _train(keras, np, prebuilt=True)
    assert warmup.quietly(train) > 0  # the worker's own training, on the warm-up's job
    _, after = _train(keras, np, prebuilt=True)
    for mine, theirs in zip(after, before, strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))


def test_a_warm_up_that_fails_is_logged_and_the_worker_goes_on(capsys):
    from grader.verify import warmup

    def broken(job, data):
        raise RuntimeError("no such layer")

    assert warmup.quietly(broken) is None
    assert "RuntimeError: no such layer" in capsys.readouterr().err


def _exported(keras, np, model, seed: int) -> dict:
    """``model``'s weights and probe outputs as the kernel exports them (``guard._probe``)."""
    import base64

    from grader.execute.kernel import probe as P

    weights = {layer.name: [{"shape": list(w.shape),
                             "data": base64.b64encode(np.asarray(w, "float32").tobytes()).decode()}
                            for w in layer.get_weights()] for layer in model.layers}
    x = P.probe_batch(np, tuple(model.inputs[0].shape[1:]), seed=seed)
    # after the weights: the training-mode calls move BatchNormalization's statistics
    return dict(P.outputs(np, keras.ops.convert_to_numpy, model, list(model.layers), x), weights=weights)


def test_a_cross_check_after_its_architectures_training_answers_as_on_a_fresh_build():
    """The early training keeps its model for the cross-check that follows (``worker.Kept``):
    every weight is loaded from the notebook's, so its answer is a fresh build's, to the digit."""
    keras = pytest.importorskip("keras")
    import numpy as np

    from grader.verify import warmup, worker

    training = dict(warmup.JOB, seed=1)
    keras.utils.set_random_seed(5)
    student = worker.build_model(keras, training["layers"], training["input_shape"])
    other = worker.build_model(keras, training["layers"], training["input_shape"])
    answers = []
    mine = _exported(keras, np, student, 11)
    for probe in (mine, dict(_exported(keras, np, other, 11), weights=mine["weights"])):
        job = {"kind": "crosscheck", "probe": probe, "seed": 11, "input_shape": training["input_shape"],
               "layers": training["layers"], "names": [layer.name for layer in student.layers]}
        fresh = worker.crosscheck(job)["crosscheck"]
        kept = worker.Kept()
        assert worker.answer(training, warmup.Arrays(), kept)["ok"]
        assert kept.model is not None  # the trained network, kept for this cross-check
        reused = worker.answer(job, warmup.Arrays(), kept)["crosscheck"]
        assert kept.model is None  # taken once
        assert {k: v for k, v in reused.items() if k != "seconds"} == \
            {k: v for k, v in fresh.items() if k != "seconds"}
        answers.append(reused["matched"])
    assert answers == [True, False]  # the second probe's outputs are another network's


def test_the_kept_model_serves_only_a_cross_check_of_its_own_architecture():
    pytest.importorskip("keras")
    from grader.verify import warmup, worker

    kept = worker.Kept()
    kept.keep(warmup.JOB, object())
    wider = [dict(layer, args=dict(layer["args"], filters=3)) if layer["kind"] == "Conv2D" else layer
             for layer in warmup.JOB["layers"]]
    assert kept.builder({"layers": wider, "input_shape": warmup.JOB["input_shape"]}) is worker.build_model
    assert kept.model is None  # dropped: it is never a later job's
    kept.keep(warmup.JOB, "trained")
    assert kept.builder(dict(warmup.JOB))(None, [], []) == "trained"
    kept.keep(warmup.JOB, "trained")
    worker.answer({"kind": "nothing-known"}, worker.Data(), kept)  # any other job drops it
    assert kept.model is None
