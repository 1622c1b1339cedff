"""Verification training: the grader trains the student's *architecture* itself.

The student's own training proves nothing (it can be faked, shortened, or run on other data),
so only the validated layer list crosses to a separate worker process, which rebuilds the model
from an allow-list and trains it on the course split with fixed seeds and deterministic ops.
The accuracy range comes from the spec's calibration (``grader calibrate``).

A :class:`Verifier` keeps one long-lived worker (TensorFlow imported once; restarted after a
crash or a timeout) and memoizes answers by a hash of everything that determines them:
architecture, input shape, training settings, thread count, TF/Keras versions and the data's
sha256. The same architecture gives the same deterministic result, so it is trained once per
Verifier, or once per memo store (``grader.verify.memo``) that Verifiers share: by default the
memo kept between runs under the user's cache (``grader.verify.persistent``, ``Settings.memo``);
``memo_dir``, a folder of the grader's own shared by a batch's workers (where that memo is
off); or any store given as ``memo``. A training's ``source`` says whether it ran now
(``trained``) or came from the memo.
"""
from __future__ import annotations

import math
import threading
import weakref
from pathlib import Path

from grader import errors
from grader import layers as L
from grader.exceptions import DataUnavailable, GraderError, LimitExceeded, SpecError
from grader.exercise.spec import Spec
from grader.extract.report import ExtractedModel
from grader.result import Check
from grader.settings import Settings
from grader.verify.keys import job_key
from grader.verify.memo import DirectoryMemo, MemoStore, NoMemo
from grader.verify.persistent import store_for
from grader.verify.process import WorkerDied, WorkerProcess, WorkerTimeout

CHECK_NAME = "Verification training: validation accuracy"
DEFAULTS = {"learning_rate": 0.001, "bn_images": 512}
#: a worker whose data size (what RLIMIT_DATA counts) grows past this share of its limit is
#: replaced between jobs: TensorFlow keeps a little memory per model trained
RECYCLE_SHARE = 0.7
#: a worker resident past this after a training is replaced before the next job: TensorFlow
#: keeps ~350 MB of what a cnn2 training used (its caches), which a batch worker would
#: otherwise hold while the next notebook's kernel runs (the worker tree's peak memory)
RECYCLE_RSS = 800 * 1024**2
MEMORY_ADVICE, TIMEOUT_ADVICE = errors.VERIFY_MEMORY, errors.VERIFY_TIMEOUT
VALIDATION_NOTE = ("validation images, after re-estimating the BatchNormalization statistics on "
                   "{} training images (the moving averages of one short epoch are not yet "
                   "meaningful); the student's own validation curve does not do this")


class Untrainable(Exception):
    """The architecture cannot be trained on the course data; the message says why."""


class Verifier:
    """``verifier(model, spec, data_file, settings) -> (Check, training)``, reusable.

    Use it as a context manager (or call ``close``); ``start`` launches the worker early, so
    that TensorFlow's import overlaps other work (e.g. executing the notebook).
    """

    def __init__(self, settings: Settings | None = None, *, memo_dir: Path | None = None,
                 memo: MemoStore | None = None, recycle_rss: int | None = RECYCLE_RSS,
                 warm_up: bool = False) -> None:
        self.settings = settings or Settings()
        #: a worker started ahead of the notebook (``start``) warms up for its first training
        #: while the notebook runs (``grader.verify.warmup``): a grading's verifier does
        self.warm_up = warm_up
        #: this process's answers, limits and refusals included (those are not JSON)
        self.memo: dict[str, dict | Exception] = {}
        self.store: MemoStore = memo if memo is not None else default_store(self.settings, memo_dir)
        self.trainings = 0
        self.hits = 0
        self._worker: WorkerProcess | None = None
        #: the worker grew past ``recycle_rss`` in a training: closed after the cross-check that
        #: follows it in its grading (``grader.verify.early``), else replaced before the next
        #: training or grading
        self._due = False
        #: ``RECYCLE_RSS``; None: never replaced for its size (trainings one after another
        #: with no kernel beside them: calibration, baselines)
        self.recycle_rss = recycle_rss
        self._lock = threading.RLock()  # ``start`` is also called under it
        self._finalizer = weakref.finalize(self, _stop, [None])

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Verifier:
        """Start the worker (again, if it died) ahead of its first job; with ``warm_up`` it
        warms up while the notebook runs."""
        return self._start(self.warm_up)

    def _start(self, warm_up: bool, due_too: bool = True) -> Verifier:
        """A worker that runs (a new one if none does, or, with ``due_too``, if the one that
        runs is due for replacement)."""
        with self._lock:
            if self._due and due_too:
                self.close()
            if self._worker is None or not self._worker.alive():
                if self._worker is not None:  # a dead one: its folder and files go with it
                    self._worker.close()
                self._worker, self._due = WorkerProcess(self.settings), False
                self._finalizer.detach()
                self._finalizer = weakref.finalize(self, _stop, [self._worker])
                if warm_up:
                    self._worker.warm_up()
        return self

    @property
    def pid(self) -> int | None:
        """The worker process's id while one runs (None once it has exited)."""
        worker = self._worker
        return worker.proc.pid if worker is not None and worker.alive() else None

    @property
    def pids(self) -> set[int]:
        """The worker's process id and, for a forked worker, its supervisor's, while it runs."""
        worker = self._worker
        if worker is None or not worker.alive():
            return set()
        supervisor = getattr(worker.proc, "supervisor", None)
        return {worker.proc.pid} | ({supervisor} if supervisor else set())

    def close(self) -> None:
        self._due = False
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __call__(self, model: ExtractedModel, spec: Spec, data_file: Path,
                 settings: Settings | None = None, *,
                 remember_failure: bool = True) -> tuple[Check, dict]:
        """The accuracy check and the training of ``model``'s architecture. A failure (a limit,
        a worker that died) is remembered for the architecture unless ``remember_failure`` is
        False: a training that ran beside the notebook's kernel (``grader.verify.early``) may
        have failed for the kernel's sake, not the architecture's."""
        settings = settings or self.settings
        job = make_job(model.layers, model.input_shape, spec, data_file, settings)
        assert spec.training is not None  # the grader verifies only a calibrated spec
        low, high = spec.training["range"]
        try:
            check_trainable(model.layers, model.input_shape, spec)
            training = dict(self.train(job, settings, remember_failure))
        except Untrainable as exc:
            return untrainable_check(spec, str(exc)), {"val_accuracy": None, "range": [low, high],
                                                       "error": str(exc), **settings_of(job)}
        training["range"] = [low, high]
        training["calibrated_epochs"] = spec.training["epochs"]
        training["validation"] = VALIDATION_NOTE.format(job["bn_images"])
        return accuracy_check(spec, training), training

    def train(self, job: dict, settings: Settings | None = None,
              remember_failure: bool = True) -> dict:
        """The worker's ``training`` dict for ``job``, from the memo when already trained."""
        settings = settings or self.settings
        job = {**job, "threads": int(self.settings.tf_threads)}  # what this worker runs with
        key = job_key(job)
        with self._lock:
            found = self.memo.get(key) or self._read_memo(key)
            if found is None or _longer_limit(found, settings):
                try:
                    found = self._train(job, settings)
                except (LimitExceeded, Untrainable) as exc:
                    if not remember_failure:
                        raise
                    found = exc  # the same architecture hits the same limit: not tried twice
                self.memo[key] = found
                self._write_memo(key, found)
                cached = False
            else:
                self.hits += 1
                cached = True
        if isinstance(found, Exception):
            raise found
        # where the number came from: this run's training, or an identical earlier one
        return {**found, "cached": cached, "source": "memo" if cached else "trained"}

    def crosscheck(self, job: dict, settings: Settings | None = None) -> dict:
        """The worker's cross-check of ``job`` (``grader.verify.crosscheck``): never memoized
        (the weights are the submission's); ``{"error": ...}`` when the worker could not."""
        settings = settings or self.settings
        with self._lock:
            # on demand: the job comes at once, no warm-up before it; a worker due for
            # replacement still cross-checks (a few MB more, not another TensorFlow import)
            self._start(False, due_too=False)
            worker = self._worker
            assert worker is not None  # just started
            try:
                worker.wait_ready(settings.verify_start_timeout)
                reply = worker.request(job, settings.verify_timeout)
            except (WorkerTimeout, WorkerDied) as exc:
                self._drop()
                return {"error": f"the verification worker failed during the cross-check: {exc}"}
            if self._due or self._grown(reply):  # grown by its training, or near its limit
                self._retire()
        if not reply.get("ok"):
            return {"error": str(reply.get("message", "the cross-check failed"))[:500]}
        found = reply.get("crosscheck")
        return found if isinstance(found, dict) else {"error": "no cross-check in the answer"}

    def _train(self, job: dict, settings: Settings) -> dict:
        self._start(False)
        worker = self._worker
        assert worker is not None  # start() made it
        try:
            hello = worker.wait_ready(settings.verify_start_timeout)
        except (WorkerTimeout, WorkerDied) as exc:
            self._drop()
            why = str(exc) or f"no answer within {settings.verify_start_timeout:g} s"
            raise GraderError(f"the verification worker did not start: {why}",
                              traceback=getattr(exc, "log", None)) from None
        self.trainings += 1
        try:
            reply = worker.request(job, settings.verify_timeout)
        except WorkerTimeout:
            self._drop()
            raise LimitExceeded(
                f"the verification training did not finish within {settings.verify_timeout:g} s "
                "(the time limit for training your architecture); it was stopped",
                kind="timeout", advice=TIMEOUT_ADVICE, limit=settings.verify_timeout) from None
        except WorkerDied as exc:
            self._drop()
            raise LimitExceeded(
                f"{exc} while training your architecture; with a memory limit of "
                f"{self.settings.verify_memory_bytes / 1024**3:g} GiB this most likely means the "
                "architecture needs more memory than allowed", kind="memory_limit",
                advice=MEMORY_ADVICE, traceback=exc.log) from None
        if self._grown(reply):
            self.close()  # near its memory limit: not even a cross-check more
        elif self.recycle_rss is not None and reply.get("rss_bytes", 0) > self.recycle_rss:
            self._due = True  # TensorFlow keeps memory per model: start afresh (``Grader.grade``)
        return self._outcome(reply, hello)

    def _grown(self, reply: dict) -> bool:
        """Whether the worker's data size (what RLIMIT_DATA counts) nears its limit."""
        return reply.get("data_bytes", 0) > RECYCLE_SHARE * self.settings.verify_memory_bytes

    def _retire(self) -> None:
        """Close the worker without waiting for its exit (``WorkerProcess.kill(wait=False)``):
        its grading goes on meanwhile."""
        worker, self._worker, self._due = self._worker, None, False
        if worker is not None:
            worker.kill(wait=False)

    def _drop(self) -> None:
        self._due = False
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def _outcome(self, reply: dict, hello: dict) -> dict:
        if reply.get("ok"):
            training = reply["training"]
            training["versions"] = hello.get("versions")
            training["threads"] = hello.get("threads")
            return training
        kind, message = reply.get("kind"), str(reply.get("message", ""))[:1000]
        if kind == "memory_limit":
            raise LimitExceeded(
                f"training your architecture needs more than the verifier's memory limit of "
                f"{self.settings.verify_memory_bytes / 1024**3:g} GiB", kind="memory_limit",
                advice=MEMORY_ADVICE)
        if kind == "data":
            raise DataUnavailable(f"verification training: {message}")
        raise Untrainable(f"the grader could not train this architecture: {message}")

    def _read_memo(self, key: str) -> dict | None:
        """The store's entry if it is a training (any store may lose, garble or fail)."""
        try:
            found = self.store.get(key)
        except Exception:  # a memo is an optimisation only: a failing store is a miss
            return None
        return found if isinstance(found, dict) and "val_accuracy" in found else None

    def _write_memo(self, key: str, found: dict | Exception) -> None:
        if isinstance(found, Exception):
            return  # limits and refusals stay in this process: a store holds JSON only
        try:
            self.store.put(key, found)
        except Exception:  # a memo is an optimisation only
            pass


def default_store(settings: Settings, folder: Path | None = None) -> MemoStore:
    """``folder`` when given (a batch's own), else the memo kept between runs
    (``settings.memo``: ``auto``, ``off`` or a folder), else none."""
    if folder:
        return DirectoryMemo(folder)
    return store_for(settings.memo) or NoMemo()


def _longer_limit(found: dict | Exception, settings: Settings) -> bool:
    """A remembered timeout is retried only when the time limit is now longer."""
    limit = getattr(found, "details", {}).get("limit") if isinstance(found, LimitExceeded) else None
    return limit is not None and settings.verify_timeout > limit


def _stop(holder: list) -> None:
    """Finalizer: a Verifier dropped without ``close`` still ends its worker."""
    worker = holder[0] if holder else None
    if worker is not None:
        worker.close()


def verify(model: ExtractedModel, spec: Spec, data_file: Path,
           settings: Settings) -> tuple[Check, dict]:
    """One-shot verification (a fresh worker); batches should keep one ``Verifier``."""
    with Verifier(settings) as verifier:
        return verifier(model, spec, data_file, settings)


# --- jobs -------------------------------------------------------------------------------------

def make_job(layers: list[L.Layer], input_shape, spec: Spec, data_file: Path,
             settings: Settings) -> dict:
    """Plain JSON for the worker: the validated layers and the calibrated training settings."""
    training = spec.training or {}
    epochs = int(settings.verify_epochs or training["epochs"])
    if epochs < 1:
        raise GraderError("verification training needs at least one epoch")
    return {
        "layers": [{"kind": layer.kind, "args": layer.args} for layer in layers],
        "input_shape": list(input_shape), "epochs": epochs,
        "batch_size": int(training["batch_size"]), "seed": int(training["seed"]),
        "learning_rate": float(training.get("learning_rate", DEFAULTS["learning_rate"])),
        "bn_images": int(training.get("bn_images", DEFAULTS["bn_images"])),
        "split": split_of(spec), "classes": classes(spec),
        "data_sha256": spec.data["sha256"], "data_file": str(data_file),
        # thread counts change the last digits of the sums: part of what determines a result
        "threads": int(settings.tf_threads),
    }


def split_of(spec: Spec) -> dict:
    """The training and validation images (index ranges into the data file): the calibrated
    training's, else the exercise's ``data.split``."""
    split = (spec.training or {}).get("split") or spec.data.get("split")
    if not split:
        raise SpecError("the exercise declares no data split: add \"split\": {\"train\": [a, b], "
                        "\"validation\": [c, d]} to the \"data\" of its exercise.json")
    return split


def settings_of(job: dict) -> dict:
    return {k: job[k] for k in ("epochs", "batch_size", "seed")}


def classes(spec: Spec) -> int:
    """The number of classes: the reference model's output width."""
    return int(spec.layers[-1]["output_shape"][-1])


def check_trainable(layers: list[L.Layer], input_shape, spec: Spec) -> None:
    """Refuse, before any training, a model whose input or output cannot fit the data."""
    image = math.prod(spec.input_shape[1:])
    if math.prod(input_shape[1:]) != image:
        raise Untrainable(f"the model's input shape {L.fmt_shape(input_shape)} cannot hold the "
                          f"course images {L.fmt_shape(spec.input_shape)}")
    infos = L.infer(layers, tuple(input_shape))
    out = infos[-1].output_shape if infos else tuple(input_shape)
    if tuple(out) != (None, classes(spec)):
        raise Untrainable(f"the model's output shape is {L.fmt_shape(out)}, but the "
                          f"{classes(spec)} classes need {L.fmt_shape((None, classes(spec)))}")


# --- the check --------------------------------------------------------------------------------

def accuracy_check(spec: Spec, training: dict) -> Check:
    low, high = training["range"]
    acc, epochs = training["val_accuracy"], training["epochs"]
    points = float(spec.points.get("accuracy", 0))  # the accuracy kind sets the declared points
    passed = acc is not None and low <= acc <= high
    shown = "not a number" if acc is None else f"{acc:.3f}"
    note = "" if epochs == training.get("calibrated_epochs", epochs) else \
        f" (the range was calibrated for {training['calibrated_epochs']} epochs)"
    message = (f"the grader trained your architecture for {epochs} epoch{'s' * (epochs != 1)}: "
               f"validation accuracy {shown}, expected {low:.2f}–{high:.2f}{note}")
    hint = None if passed else (
        f"Your network learns poorly: the reference architecture reaches at least {low:.2f} "
        "with the same training. Look at the structure checks above for the layer that differs "
        "(activations that destroy the signal, far too few units or filters).")
    return Check(name=CHECK_NAME, passed=passed, message=message,
                 points=points if passed else 0.0, max_points=points, category="training",
                 hint=hint, expected=[low, high], actual=acc)


def untrainable_check(spec: Spec, why: str) -> Check:
    points = float(spec.points.get("accuracy", 0))  # the accuracy kind sets the declared points
    return Check(name=CHECK_NAME, passed=False, message=why, points=0.0, max_points=points,
                 category="training", hint="Fix the structure checks above first: the grader "
                 "trains only architectures that fit the course data.")
