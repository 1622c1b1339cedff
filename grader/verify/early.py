"""The verification training started from the kernel's first description (``runner.PREVIEW``).

After the last cell the runner asks the kernel twice: for the description alone, then for the
whole report, whose weights and probe outputs (the cross-check's evidence) take the kernel
~0.4 s for cnn2, after which the kernel is stopped (~0.1 s). ``EarlyTraining.start`` is the
runner's ``on_described`` hook: it chooses the graded model from the description as the grading
will, and hands that architecture to the verifier in a thread of the grader's, so that its
training (~3.7 s on 2 cores, the first second on one core: the trace) runs while the kernel
exports and stops.

Nothing of the verdict comes from the preview. The grading chooses its model from the whole
report, as before, and takes the early training's answer only for the very job it would send
itself (``take``: the same layers, input shape and training settings); for any other it stops
the early training and trains its own (``settle``). A notebook that describes one network first
and another later (only code that watches the grader can) costs a restarted worker and is named
for review, never a wrong number. A failed early training (a limit, a worker that died) is
neither taken nor remembered: it ran beside the notebook's kernel, which may have caused it, so
the grading trains again once the kernel is gone. The verifier's worker is one process:
``settle`` waits for the early training before the cross-check uses the worker and before the
grading ends, and ``stop`` (an interrupted grading) ends it at once, so a training never
outlives its grading.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from grader.exercise.spec import Spec
from grader.extract.report import ExtractedModel
from grader.extract.select import choose
from grader.settings import Settings
from grader.verify.verifier import make_job

#: what the verifier answers (the accuracy check and the training), and its seconds
Answer = tuple[tuple[Any, dict], float]


class Trains(Protocol):
    """What the early training needs of a verifier (``pipeline.Verifies``)."""

    def close(self) -> None: ...

    def __call__(self, model: ExtractedModel, spec: Spec, data_file: Path, settings: Settings,
                 *, remember_failure: bool = True) -> tuple[Any, dict]: ...


class EarlyTraining:
    """One grading's early training: ``start`` (the runner's hook), ``settle``, ``take``."""

    def __init__(self, verifier: Trains, spec: Spec, data_file: Path,
                 settings: Settings, pool: ThreadPoolExecutor) -> None:
        self.verifier, self.spec, self.data_file, self.settings = verifier, spec, data_file, settings
        self.pool = pool
        self.job: dict | None = None
        self.future: Future[Answer] | None = None

    def start(self, report: dict) -> None:
        """Train the model the grading would choose from ``report`` (the kernel's description),
        in the background. A description without such a model starts nothing: the report
        decides, as without a preview."""
        if self.future is not None:
            return  # one early training per grading
        try:
            model = choose(report, self.spec, self.settings.max_params_factor).model
            self.job = self._job(model)
        except Exception:  # no gradable model described: the whole report will say why
            return
        self.future = self.pool.submit(self._train, model)

    def settle(self, model: ExtractedModel | None = None) -> None:
        """Wait for the early training, if one runs (the worker is busy until then); stopped
        first when ``model``, the graded one, gets another job."""
        if self.future is None:
            return
        if model is not None and self.differs(model) and not self.future.done():
            self.stop()
        wait([self.future])

    def stop(self) -> None:
        """End the early training now: its worker is closed (the next job starts another)."""
        if self.future is not None and not self.future.done():
            self.verifier.close()
        if self.future is not None:
            wait([self.future])

    def differs(self, model: ExtractedModel) -> bool:
        """Whether an early training ran for another job than ``model``'s: the kernel described
        one network first and another in its report."""
        try:
            return self.job is not None and self.job != self._job(model)
        except Exception:  # the report's model gets no job: the verification says why
            return False

    def take(self, model: ExtractedModel) -> Answer | None:
        """The early training's answer when it trained exactly the job ``model`` gets and
        succeeded; None when there was none, it trained another or it failed (the grading
        trains again, with the kernel gone)."""
        self.settle(model)
        if self.future is None or self.differs(model) or self.future.exception() is not None:
            return None
        return self.future.result()

    def _job(self, model: ExtractedModel) -> dict:
        return make_job(model.layers, model.input_shape, self.spec, self.data_file, self.settings)

    def _train(self, model: ExtractedModel) -> Answer:
        began = time.monotonic()
        found = self.verifier(model, self.spec, self.data_file, self.settings,
                              remember_failure=False)
        return found, round(time.monotonic() - began, 2)
