"""The cross-check's parts that need no kernel: the reply channel's parsing, the probe, the
comparison's tolerance, what a mismatch does to a result, and refusal by class identity."""
from __future__ import annotations

import numpy as np
import pytest

from grader.checks import scoring as structure
from grader.exceptions import DisallowedLayer, NotGradable
from grader.execute import report_channel
from grader.execute.kernel import probe as P
from grader.extract import report as extract
from grader.result import Check, Result, Status
from grader.verify import crosscheck
from grader.verify.crosscheck_worker import Comparison

from tests.test_model_edge_cases import _report


def _reply(text, status="ok"):
    return {"user_expressions": {"report": {"status": status, "data": {"text/plain": text}}}}


def test_the_report_comes_back_as_the_repr_of_a_json_string_and_nothing_else():
    assert report_channel.parse(_reply(repr('{"ok": false}')), 1000) == {"ok": False}
    for bad in (_reply("{'ok': False}"), _reply("__import__('os')"), _reply(repr("[1]")),
                _reply(repr('{"ok": 1}'), status="error"), {}, _reply(repr("x" * 2000))):
        with pytest.raises(NotGradable):
            report_channel.parse(bad, 1000)


def test_the_probe_is_the_same_fixed_batch_on_both_sides_and_every_channel_is_sampled():
    a, b = P.probe_batch(np, (28, 28, 1)), P.probe_batch(np, [28, 28, 1])
    assert a.shape == (8, 28, 28, 1) and a.dtype == np.float32 and np.array_equal(a, b)
    assert -1.0 <= a.min() < 0.0 and 2.0 < a.max() < 3.0 and a.std() > 0.8  # like standardized data
    summary = P.summary(np, np.arange(8 * 14 * 14 * 64, dtype="float32").reshape(8, 14, 14, 64))
    assert len(summary["mean"]) == 64 and P.SAMPLE // 2 < len(summary["sample"]) <= P.SAMPLE
    assert len({int(v) % 64 for v in summary["sample"]}) == 64  # the stride skips no channel


def test_outputs_equal_within_float_tolerance_match_and_a_different_network_does_not():
    x = np.linspace(-3, 3, 8 * 10).reshape(8, 10)
    mine = P.summary(np, x)
    same = Comparison(np)
    same.pair("out", None, P.summary(np, x * (1 + 1e-6)), mine)
    assert same.mismatches == []
    other = Comparison(np)
    other.pair("out", "layer 3", P.summary(np, x + 0.01), mine)
    other.pair("out", "layer 4", P.summary(np, x[:, :5]), mine)  # another shape
    assert [m["layer"] for m in other.mismatches] == ["layer 3", "layer 4"]
    assert other.mismatches[0]["max_abs_diff"] == pytest.approx(0.01)


def _passed_result() -> Result:
    result = Result(submission="s", status=Status.ERROR, max_score=3.0, checks=[
        Check(name="a", passed=True, message="ok", points=2.0, max_points=2.0),
        Check(name="b", passed=True, message="ok", points=1.0, max_points=1.0,
              category="training")])
    return result


def test_a_mismatch_withdraws_every_point_and_says_what_disagreed_first():
    result = _passed_result()
    found = {"matched": False, "compared": 39, "max_abs_diff": 2.8,
             "mismatches": [{"what": "layer output (inference)", "layer": "layer 11 `conv2d_3`",
                             "max_abs_diff": 2.8}]}
    crosscheck.apply(result, crosscheck.Outcome(False, found=found))
    structure.score(result)
    assert result.status is Status.FAILED and result.score == 0.0 and result.max_score == 3.0
    assert result.first_failed.name == crosscheck.CHECK_NAME
    assert "layer 11 `conv2d_3`" in result.first_failed.message
    assert result.review == [{"source": "crosscheck", "cell_index": None, "line": None,
                              "code": "crosscheck-mismatch",
                              "message": result.first_failed.message}]


def test_a_cross_check_that_could_not_run_withdraws_the_points_too():
    result = _passed_result()
    crosscheck.apply(result, crosscheck.Outcome(None, "the kernel gave no weights"))
    structure.score(result)
    assert result.status is Status.FAILED and result.score == 0.0
    assert result.review[0]["code"] == "crosscheck-unavailable"


def test_a_matching_cross_check_changes_nothing_but_records_itself():
    result = _passed_result()
    crosscheck.apply(result, crosscheck.Outcome(True, found={"matched": True, "compared": 3}))
    structure.score(result)
    assert result.status is Status.PASSED and result.score == 3.0 and result.review == []
    assert result.crosscheck["matched"] is True


def test_a_graded_model_without_exported_weights_has_no_job_but_a_reason(spec):
    report = _report(spec, model=spec.ref_layers)
    model = extract.candidates(report)[0].model
    assert "no weights" in crosscheck.job_for(model, report)
    report["models"][0]["probe"] = {"weights": {}}
    job = crosscheck.job_for(model, report)
    assert job["kind"] == "crosscheck" and len(job["names"]) == len(model.layers)


def test_a_layer_whose_type_is_not_a_snapshot_keras_class_is_refused_whatever_its_name(spec):
    report = _report(spec, model=spec.ref_layers)
    report["models"][0]["layers"][3]["keras_class"] = False
    found = extract.candidates(report)[0]
    assert isinstance(found.error, DisallowedLayer)
    assert "not one of Keras's own classes" in found.error.message


def test_what_the_guard_saw_becomes_review_entries_of_source_crosscheck():
    entries = crosscheck.review_entries({"guard": {"changed": ["keras.layers.Conv2D rebound"],
                                                   "hooks": ["IPython post_run_cell hook f"]}})
    assert [e["code"] for e in entries] == ["keras-changed", "hook-removed"]
    assert all(e["source"] == "crosscheck" for e in entries)


def _guard_module() -> dict:
    from grader.execute import kernel
    scope: dict = {"__name__": "guard_under_test"}
    exec(compile(kernel.text("guard"), "<guard>", "exec"), scope)  # noqa: S102 - our own code
    return scope


def test_the_snapshot_names_a_replaced_class_attribute_and_a_rebound_keras_name(monkeypatch):
    keras = pytest.importorskip("keras")
    import sys
    snapshot = _guard_module()["_Snapshot"](sys.modules, [])
    snapshot.take()
    assert not any("Conv2D" in c for c in snapshot.changes())

    class Conv2D(keras.layers.Conv2D):  # a notebook class with Keras's name
        pass
    monkeypatch.setattr(keras.layers.Conv2D, "get_config", lambda self: {})
    monkeypatch.setattr(keras.layers, "Dense", Conv2D)
    changes = snapshot.changes()
    assert any(c.endswith("Conv2D.get_config replaced") for c in changes)
    assert "keras.layers.Dense rebound" in changes
    assert Conv2D not in snapshot.classes and keras.layers.MaxPooling2D in snapshot.classes


def test_a_layer_is_described_as_keras_s_own_only_by_identity_with_the_snapshot(tmp_path):
    keras = pytest.importorskip("keras")
    import sys

    from grader.execute import kernel
    snapshot = _guard_module()["_Snapshot"](sys.modules, [])
    snapshot.take()
    fake = type("Conv2D", (keras.layers.Conv2D,), {
        "__module__": "keras.src.layers.convolutional.conv2d", "__qualname__": "Conv2D"})
    model = keras.Sequential([keras.Input((8, 8, 1)), fake(2, 3), keras.layers.Flatten()])
    scope: dict = {}
    exec(kernel.source("extract_model", ""), scope)  # noqa: S102 - our own kernel code
    report = scope["__grader_describe"]({"model": model}, snapshot=snapshot)
    assert [layer["keras_class"] for layer in report["models"][0]["layers"]] == [False, True]
    assert isinstance(extract.candidates(report)[0].error, DisallowedLayer)


class _NoWorker:
    """A verifier that must not be asked: the cross-check is refused before any probe runs."""

    def crosscheck(self, job, settings):
        raise AssertionError("the worker was asked to cross-check a changed computation")


def test_a_changed_computation_makes_the_cross_check_unavailable_and_withdraws_the_points(spec):
    report = _report(spec, model=spec.ref_layers)
    report["guard"] = {"changed": [], "computation": [
        "keras.src.layers.convolutional.conv2d.Conv2D.call replaced"]}
    model = extract.candidates(report)[0].model
    outcome = crosscheck.run(_NoWorker(), model, report, None)
    assert outcome.matched is None
    assert outcome.reason.startswith("the notebook changed the code the network computes with")
    assert "Conv2D.call replaced" in outcome.reason and "cannot vouch" in outcome.reason
    result = _passed_result()
    crosscheck.apply(result, outcome)
    structure.score(result)
    assert result.status is Status.FAILED and result.score == 0.0
    assert result.review[0]["code"] == "crosscheck-unavailable"


def test_a_guard_report_without_computation_changes_refuses_nothing():
    assert crosscheck.changed_computation({"guard": {"changed": ["IPython hook f"]}}) == ""
    assert crosscheck.changed_computation({}) == ""


def test_the_snapshot_tells_changes_to_the_graded_model_s_computation_from_other_changes(
        monkeypatch):
    keras = pytest.importorskip("keras")
    import sys

    import numpy
    import tensorflow as tf
    snapshot = _guard_module()["_Snapshot"](sys.modules, [])
    snapshot.take()
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.Flatten()])
    assert snapshot.computing([model]) == []
    monkeypatch.setattr(keras.layers.Conv2D, "get_config", lambda self: {})  # describes only
    monkeypatch.setattr(keras.layers.LSTM, "call", lambda self, x: x)  # a class not used
    monkeypatch.setattr(keras.layers, "Dense", keras.layers.Conv2D)  # a name, not computation
    assert snapshot.computing([model]) == []
    assert "keras.layers.Dense rebound" in snapshot.changes()  # still a review flag
    monkeypatch.setattr(keras.layers.Conv2D, "call", lambda self, x: x)
    monkeypatch.setattr(tf.nn, "convolution", lambda *a, **k: None)
    monkeypatch.setattr(numpy, "asarray", lambda *a, **k: None)
    found = snapshot.computing([model])
    assert any(c.endswith("Conv2D.call replaced") for c in found)
    assert "tensorflow._api.v2.nn.convolution rebound" in found
    assert "numpy.asarray rebound" in found


def test_the_probe_batch_follows_the_runner_s_seed_which_the_job_carries_to_the_worker(spec):
    fixed, same = P.probe_batch(np, (4, 4, 1)), P.probe_batch(np, (4, 4, 1), seed=None)
    drawn = P.probe_batch(np, (4, 4, 1), seed=12345)
    assert np.array_equal(fixed, same) and not np.array_equal(fixed, drawn)
    assert np.array_equal(drawn, P.probe_batch(np, (4, 4, 1), seed=12345))
    sizes = {len(P.probe_batch(np, (2, 2, 1), seed=s)) for s in range(40)}
    assert sizes == set(range(6, 17))  # the batch size is no sign of the probe either
    report = _report(spec, model=spec.ref_layers)
    report["models"][0]["probe"] = {"weights": {}}
    model = extract.candidates(report)[0].model
    assert crosscheck.job_for(model, report, seed=12345)["seed"] == 12345


def test_the_runner_asks_for_the_report_with_a_seed_of_its_own():
    from grader.execute import runner
    assert runner.REPORT.format("n0nce", 77) == "__grader_report_n0nce(77)"


def _computing_checks() -> dict:
    from grader.execute import kernel
    scope: dict = {"__name__": "computing_under_test"}
    exec(compile(kernel.text("computing"), "<computing>", "exec"), scope)  # noqa: S102 - our own code
    return scope


def test_a_computing_method_set_on_an_instance_counts_unless_it_is_a_keras_model_s_own():
    keras = pytest.importorskip("keras")
    import sys
    snapshot = _guard_module()["_Snapshot"](sys.modules, [], _computing_checks())
    snapshot.take()
    conv = keras.layers.Conv2D(2, 3)
    model = keras.Sequential([keras.Input((8, 8, 1)), conv, keras.layers.Flatten()])
    other = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    model.call = other.call  # a redirection: Keras's own code, compared by the cross-check
    assert snapshot.computing([model]) == []
    conv.call = lambda inputs: inputs
    assert [c for c in snapshot.computing([model]) if c.endswith(".call set on the instance")]


def _dense_job(keras, seed=7):
    """A one-Dense model's probe as the kernel exports it, and the worker's job for it."""
    import base64

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    x = P.probe_batch(np, (4,), seed=seed)
    found = P.outputs(np, keras.ops.convert_to_numpy, model, list(model.layers), x)
    weights = {"d": [{"shape": list(w.shape),
                      "data": base64.b64encode(np.asarray(w, "float32").tobytes()).decode()}
                     for w in model.layers[0].get_weights()]}
    return {"kind": "crosscheck", "probe": dict(found, weights=weights), "seed": seed,
            "input_shape": [None, 4], "names": ["d"],
            "layers": [{"kind": "Dense", "args": {"units": 3, "activation": "linear", "use_bias": True}}]}


def test_the_model_run_in_a_graph_is_held_against_the_rebuild_and_cannot_be_left_out():
    keras = pytest.importorskip("keras")
    from grader.verify import crosscheck_worker, worker

    job = _dense_job(keras)
    assert "compiled" in job["probe"]
    assert crosscheck_worker.run(job, worker.build_model)["matched"] is True
    other = dict(job["probe"], compiled=P.summary(np, np.zeros((len(P.probe_batch(np, (4,), seed=7)), 3))))
    found = crosscheck_worker.run(dict(job, probe=other), worker.build_model)
    assert not found["matched"] and found["mismatches"][0]["what"].startswith("model output (compiled")
    left_out = {k: v for k, v in job["probe"].items() if k != "compiled"}
    assert not crosscheck_worker.run(dict(job, probe=left_out), worker.build_model)["matched"]


NETWORKS = {  # rebuilt as the worker rebuilds: the model's outputs must be its layer chain's
    "cnn": [{"kind": "Conv2D", "args": {"filters": 4, "kernel_size": [3, 3], "padding": "same"}},
            {"kind": "BatchNormalization", "args": {}},
            {"kind": "Activation", "args": {"activation": "relu"}},
            {"kind": "MaxPooling2D", "args": {"pool_size": [2, 2]}},
            {"kind": "Flatten", "args": {}},
            {"kind": "Dense", "args": {"units": 10, "activation": "softmax"}}],
    "dense": [{"kind": "Flatten", "args": {}},
              {"kind": "Dense", "args": {"units": 16, "activation": "relu"}},
              {"kind": "BatchNormalization", "args": {}},
              {"kind": "Dense", "args": {"units": 10}},
              {"kind": "Activation", "args": {"activation": "softmax"}}],
}



def _course_networks() -> dict:
    """The reference cnn2 (its Dropout included) and, for each kind of layer it holds, the
    network without that kind's first layer: the mistakes students make, as the worker gets them."""
    import json

    from tests.conftest import ROOT

    spec = json.loads((ROOT / "reference" / "cnn2" / "spec.json").read_text())
    layers = [{"kind": entry["type"], "args": entry["args"]} for entry in spec["layers"]]
    found = {"reference": layers}
    for kind in dict.fromkeys(layer["kind"] for layer in layers):
        at = next(i for i, layer in enumerate(layers) if layer["kind"] == kind)
        found[f"reference without its first {kind}"] = layers[:at] + layers[at + 1:]
    return found


NETWORKS.update(_course_networks())


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_the_rebuild_s_outputs_taken_from_its_layer_chain_are_its_own_call_s_to_the_last_bit(network):
    keras = pytest.importorskip("keras")
    from grader.verify import crosscheck_worker, worker

    stochastic = any(layer["kind"] in P.STOCHASTIC for layer in NETWORKS[network])

    def rebuilt():  # twice the same (a training-mode call moves the statistics)
        keras.utils.set_random_seed(5)
        model = worker.build_model(keras, NETWORKS[network], [None, 8, 8, 1])
        for layer in model.layers:  # statistics that are not the defaults, so inference uses them
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
                layer.moving_variance.assign(np.full(layer.moving_variance.shape, 2.0, "float32"))
        return model

    x = P.probe_batch(np, (8, 8, 1), seed=3)
    model = rebuilt()
    own = P.outputs(np, keras.ops.convert_to_numpy, model, list(model.layers), x, compiled=False)
    chained = crosscheck_worker.rebuild_outputs(np, keras.ops.convert_to_numpy, rebuilt(), x)
    assert own.keys() == chained.keys()
    # the same floats, not merely within tolerance; a random training-mode output (Dropout) is
    # never compared (``crosscheck_worker.run``), and the chain runs Dropout in inference mode
    for key in ("inference",) if stochastic else ("inference", "training"):
        assert own[key] == chained[key], key
    for key in ("layers_inference", "layers_training"):  # the names are the two models' own
        assert [found for _, found in own[key]] == [found for _, found in chained[key]], key
