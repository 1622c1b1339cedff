"""The verification workers' zygote: ``python -I boot.py grader.verify.zygote SOCKET``.

Every verification worker imports TensorFlow and Keras before its first job: about 3 CPU-seconds,
most of what a worker costs when its training comes from the memo (a cross-check alone), and
paid again each time a batch's verifier replaces a worker grown by a training. This process
imports them once, as a worker would (``runtime.refuse_unused_modules`` first), and forks each
worker from there (``grader.sandbox.zygote_server``: a supervisor per worker reports its exit and
kills it when the grader lets go of it). A forked worker is the same program as a started one:
it sets its memory limit, configures TensorFlow (threads, determinism) and answers its jobs with
``worker.main``, in its own folder and environment, with its stdin, stdout and stderr passed by
the grader. It is started isolated like a worker (``grader.util.isolation``), so nothing of the
grader's working folder or a student's is imported by it or by the workers forked from it.
"""
from __future__ import annotations

import sys

from grader.sandbox import zygote_server
from grader.verify import runtime, worker

#: what a worker imports before its first job (``runtime.configure``), in this order
PRELOAD = ("tensorflow", "keras")


def become_worker(request: dict, fds: list[int]) -> None:
    """The forked child: a verification worker, as ``grader.verify.worker`` started afresh
    would be; never returns."""

    def run() -> int:
        zygote_server.enter(request, fds)
        sys.argv = [worker.__file__]  # as ``python -I boot.py grader.verify.worker`` has it
        return worker.main()

    zygote_server.finish(run)


def main() -> None:
    runtime.refuse_unused_modules()  # before Keras is imported, as in a worker
    zygote_server.main(sys.argv[1], PRELOAD, become_worker)


if __name__ == "__main__":
    main()
