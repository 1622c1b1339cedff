"""The verification-training worker ``grader.verify.worker``, one job per JSON line (started
isolated by ``grader.verify.process``: ``python -I`` in a folder of its own).

It imports TensorFlow once and trains each job's architecture from plain, validated layer data:
every layer is rebuilt from the allow-list ``grader.layers.allowlist`` (kind → Keras class,
with only the named arguments; pure Python, imported without TensorFlow),
so nothing the student made (objects, weights, configs, compile settings) is ever loaded. Only
JSON crosses the pipe: a ``{"ready": ...}`` line at start, then one answer line per job (a
``warm_up`` job's too: ``grader.verify.warmup``).
Anything TensorFlow prints goes to stderr, so the protocol stream stays clean.
"""
from __future__ import annotations

import gc
import gzip
import json
import math
import os
import pickle
import sys
import time
import traceback

from grader.layers.allowlist import builders
from grader.util.files import sha256_bytes
from grader.verify import adam, fused, runtime, warmup

#: kind -> (Keras layer class name, arguments passed through), derived from the one allow-list
BUILDERS: dict[str, tuple[str, tuple[str, ...]]] = builders()
TUPLE_ARGS = frozenset({"kernel_size", "strides", "dilation_rate", "pool_size", "target_shape"})
CURVES = ("accuracy", "val_accuracy", "loss", "val_loss")


class JobError(Exception):
    """A job that cannot be trained; ``kind`` says why (``build``, ``data``, ``memory_limit``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def build_model(keras, layers: list[dict], input_shape: list):
    """A Sequential model from ``[{"kind", "args"}]``; unknown kinds or arguments are refused.

    Built once, from the whole list: ``Sequential.add`` rebuilds the model after every layer
    (building cnn2 took 0.32 CPU-s that way, 0.19 now; a cold check builds twice: the
    cross-check and the training), and either way each layer is built once, in order, so the
    weights drawn are the same.
    """
    built = []
    for i, spec in enumerate(layers):
        kind, args = spec["kind"], spec.get("args", {})
        if kind not in BUILDERS:
            raise JobError("build", f"layer {i + 1}: {kind!r} is not an allowed layer")
        class_name, allowed = BUILDERS[kind]
        kwargs = {k: _arg(k, args[k]) for k in allowed if k in args and args[k] is not None}
        try:
            layer = layer_class(keras, class_name)(**kwargs)
        except (TypeError, ValueError) as exc:
            raise JobError("build", f"layer {i + 1} ({kind}): {exc}") from None
        if args.get("frozen"):
            layer.trainable = False
        built.append(layer)
    return keras.Sequential([keras.Input(shape=tuple(input_shape[1:])), *built])


def layer_class(keras, class_name: str):
    """Keras's class, except BatchNormalization: its training step fused (``grader.verify.fused``)."""
    if class_name == "BatchNormalization":
        return fused.batch_normalization(keras)
    return getattr(keras.layers, class_name)


class Kept:
    """The last training's model, kept for one cross-check of the same architecture.

    A grading's early training (``grader.verify.early``) comes just before its cross-check,
    which then loads the notebook's weights into the trained network instead of building it
    again (~0.13 s of cnn2's ~0.37 s cross-check). Every weight is loaded, so nothing trained
    stays in what the cross-check computes (stochastic layers it runs in inference mode only).
    Taken once; any other job drops it.
    """

    def __init__(self) -> None:
        self.key: str | None = None
        self.model = None

    def keep(self, job: dict, model) -> None:
        self.key, self.model = _architecture(job), model

    def drop(self) -> None:
        self.key = self.model = None

    def builder(self, job: dict):
        """``build_model``, or one that gives the kept model when it is ``job``'s network."""
        model, match = self.model, self.key == _architecture(job)
        self.drop()
        if model is None or not match:
            return build_model
        return lambda keras, layers, input_shape: model


def _architecture(job: dict) -> str:
    return json.dumps([job["layers"], list(job["input_shape"])], sort_keys=True)


def _arg(key: str, value):
    if key == "kernel_initializer":
        return value  # a class name from grader.layers.INITIALIZERS; Keras resolves it
    if key in TUPLE_ARGS and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if key == "padding" and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


class Data:
    """The spec's split of the course data (training and validation images), loaded once per
    file."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple] = {}

    def get(self, job: dict):
        key = json.dumps([job["data_sha256"], job["split"], job["classes"]])
        if key not in self._cache:
            self._cache = {key: self._load(job)}
        return self._cache[key]

    @staticmethod
    def _load(job: dict):
        import numpy as np

        raw = open(job["data_file"], "rb").read()
        if sha256_bytes(raw) != job["data_sha256"]:  # checked before unpickling
            raise JobError("data", "the data file does not match its sha256")
        X, y = pickle.loads(gzip.decompress(raw), encoding="latin1")
        X = np.asarray(X, dtype="float32").reshape(len(X), -1)
        y = np.asarray(y, dtype="int64")
        (a, b), (c, d) = job["split"]["train"], job["split"]["validation"]
        onehot = np.eye(job["classes"], dtype="float32")
        return X[a:b], onehot[y[a:b]], X[c:d], onehot[y[c:d]]


def train(job: dict, data: Data, kept: Kept | None = None) -> dict:
    """Train one architecture with fixed seeds; returns the ``training`` dict (plain numbers).
    ``kept``: where the trained model is kept for its cross-check."""
    import keras

    start = time.monotonic()
    keras.utils.clear_session(free_memory=False)  # the garbage went after the last job (main)
    keras.utils.set_random_seed(int(job["seed"]))
    x_train, y_train, x_val, y_val = data.get(job)
    shape = tuple(job["input_shape"][1:])
    if job.get("standardize"):
        x_train, x_val = standardize(x_train, x_val)
    x_train, x_val = x_train.reshape((-1, *shape)), x_val.reshape((-1, *shape))
    model = build_model(keras, job["layers"], job["input_shape"])
    model.compile(optimizer=optimizer(keras, job), loss="categorical_crossentropy", metrics=["accuracy"])
    build_state(model, y_train)
    built = time.monotonic()
    curves: dict[str, list] = {k: [] for k in CURVES}
    epoch_end = _validation(keras, model, x_train[: int(job["bn_images"])], x_val, y_val, curves)
    model.fit(x_train, y_train, batch_size=int(job["batch_size"]), epochs=int(job["epochs"]),
              shuffle=True, verbose=0, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=epoch_end)])
    if kept is not None:
        kept.keep(job, model)
    return {"val_accuracy": curves["val_accuracy"][-1], "curves": curves,
            "epochs": int(job["epochs"]), "batch_size": int(job["batch_size"]),
            "seed": int(job["seed"]), "seconds": round(time.monotonic() - start, 2),
            "build_seconds": round(built - start, 2), "peak_rss_bytes": runtime.peak_rss()}


def build_state(model, y_train) -> None:
    """Create the optimizer's and the metrics' variables before ``fit``.

    Left to ``fit``, they are created while its training step is traced, and TensorFlow then
    traces that step a second time (a ``tf.function`` that creates variables is traced again
    without them): ~1 s of a cnn2 training's ~4.5 s on 2 cores. Neither draws a random number
    (the metrics' state is zeros, reset by ``fit`` at each epoch; Adam's slots are zeros), so the
    trained numbers are the same to the last digit.
    """
    model.optimizer.build(model.trainable_variables)
    labels = y_train[:1]
    model.compute_metrics(None, labels, labels, sample_weight=None)


#: optimizers a job may name (a baseline's declaration, ``grader.baselines.declare``); a
#: student's verification job names none and trains with Adam
OPTIMIZERS = {"adam": "Adam", "adadelta": "Adadelta", "sgd": "SGD", "rmsprop": "RMSprop"}


def optimizer(keras, job: dict):
    """The job's optimizer (Adam unless it names another one of ``OPTIMIZERS``)."""
    name = job.get("optimizer", "adam")
    if name not in OPTIMIZERS:
        raise JobError("build", f"optimizer {name!r} is not one the worker builds")
    if name == "adam":  # Keras's Adam, its step's scalars traced once (``grader.verify.adam``)
        return adam.adam(keras)(learning_rate=job["learning_rate"])
    return getattr(keras.optimizers, OPTIMIZERS[name])(learning_rate=job["learning_rate"])


def standardize(x_train, x_val):
    """Per-pixel standardization with the training images' mean and deviation (+1e-4), as the
    course's cnn1 notebook does before training."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-4
    return (x_train - mean) / std, (x_val - mean) / std


def _validation(keras, model, x_bn, x_val, y_val, curves: dict):
    """Epoch-end hook: training metrics from Keras, validation metrics computed here.

    Before each validation the BatchNormalization moving statistics are set to the exact
    statistics of ``x_bn`` (training images): after one short epoch with momentum 0.99 the
    moving averages still mostly hold their initial values, which would measure the averaging,
    not what the weights learned. Training itself never reads these statistics.
    """
    import numpy as np

    def on_epoch_end(epoch, logs):
        logs = logs or {}
        curves["accuracy"].append(_finite(logs.get("accuracy", math.nan)))
        curves["loss"].append(_finite(logs.get("loss", math.nan)))
        recalibrate_batchnorm(keras, model, x_bn)
        probs = np.concatenate([np.asarray(model(x_val[i:i + 200], training=False))
                                for i in range(0, len(x_val), 200)]).astype("float64")
        hits = probs.argmax(axis=1) == y_val.argmax(axis=1)
        picked = np.clip((probs * y_val).sum(axis=1), 1e-7, 1.0)
        curves["val_accuracy"].append(_finite(hits.mean()))
        curves["val_loss"].append(_finite(-np.log(picked).mean()))

    return on_epoch_end


def recalibrate_batchnorm(keras, model, x) -> None:
    """Set each BatchNormalization's moving statistics to the exact ones of ``x``."""
    from keras import ops

    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        return
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            kept = layer.axis % len(x.shape)  # the normalized axis (the channels unless set)
            axes = [i for i in range(len(x.shape)) if i != kept]
            layer.moving_mean.assign(ops.mean(x, axis=axes))
            layer.moving_variance.assign(ops.var(x, axis=axes))
        x = layer(x, training=False)


def _finite(value) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def answer(job: dict, data: Data, kept: Kept | None = None) -> dict:
    kept = kept if kept is not None else Kept()
    if job.get("kind") == "crosscheck":
        return crosscheck(job, kept.builder(job))
    if kept.model is not None:  # no cross-check took it (calibration, baselines): the last
        kept.drop()             # training's garbage was left for one, collected now
        gc.collect()
    if job.get("kind") == "warm_up":  # read with the ready line (``WorkerProcess.warm_up``)
        return {"id": job.get("id"), "ok": True, "warm_up": warmup.quietly(train)}
    try:
        return {"id": job.get("id"), "ok": True, "training": train(job, data, kept)}
    except JobError as exc:
        return {"id": job.get("id"), "ok": False, "kind": exc.kind, "message": str(exc)}
    except MemoryError:
        return _memory_error(job)
    except Exception as exc:  # TensorFlow raises many types; the grader gets a short message
        if "ResourceExhausted" in type(exc).__name__ or "OOM" in str(exc)[:2000]:
            return _memory_error(job)
        return {"id": job.get("id"), "ok": False, "kind": "train",
                "message": f"{type(exc).__name__}: {str(exc)[:500]}",
                "traceback": traceback.format_exc()[-4000:]}


def crosscheck(job: dict, build=build_model) -> dict:
    """The cross-check of a description against the kernel's computation
    (``grader.verify.crosscheck_worker``), with the network ``build`` gives (``Kept.builder``);
    a failure is an answer, never a crash."""
    from grader.verify import crosscheck_worker

    try:
        with fused.keras_own():  # unpatched Keras, as the kernel's
            return {"id": job.get("id"), "ok": True, "crosscheck": crosscheck_worker.run(job, build)}
    except JobError as exc:
        return {"id": job.get("id"), "ok": False, "kind": exc.kind, "message": str(exc)}
    except MemoryError:
        return _memory_error(job)
    except Exception as exc:  # TensorFlow raises many types
        return {"id": job.get("id"), "ok": False, "kind": "crosscheck",
                "message": f"{type(exc).__name__}: {str(exc)[:500]}",
                "traceback": traceback.format_exc()[-4000:]}


def _memory_error(job: dict) -> dict:
    return {"id": job.get("id"), "ok": False, "kind": "memory_limit",
            "message": "training this architecture needs more memory than the verifier may use"}


def main() -> int:
    runtime.refuse_unused_modules()
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (TensorFlow, Keras) go to stderr, never into the protocol
    runtime.limit_memory()
    threads = int(os.environ.get("GRADER_TF_THREADS", "0") or 0)
    versions = runtime.configure(threads)
    protocol.write(json.dumps({"ready": True, "versions": versions, "pid": os.getpid(),
                               "threads": threads}) + "\n")
    data, kept = Data(), Kept()
    for line in sys.stdin:
        if line.strip():
            reply = answer(json.loads(line), data, kept)
            reply.update(runtime.memory_now())
            protocol.write(json.dumps(reply) + "\n")
            if kept.model is None:  # else its cross-check comes at once: collected after that
                gc.collect()  # the job's garbage, while the grader reads the answer (~0.1 s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
