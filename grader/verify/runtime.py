"""The verification worker's process (``grader.verify.worker``): TensorFlow configured once
(threads, deterministic ops, tf.data's autotuning off), its memory limit and the memory it
reports, and the modules it refuses. Part of the training code the memo's key fingerprints
(``grader.verify.keys``): the thread settings and the autotuning decide a training's numbers.
"""
from __future__ import annotations

import os
import resource
import sys


def peak_rss() -> int:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def configure(threads: int) -> dict:
    """Import TensorFlow once, with deterministic ops and the configured thread counts."""
    from grader.sandbox.zygote_server import gc_paused

    with gc_paused():  # a forked worker has them already
        import keras
        import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    untune_array_batches(tf)
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def untune_array_batches(tf) -> bool:
    """Turn tf.data's autotuning off in the dataset ``fit`` makes of arrays (Keras's
    ``ArrayDataAdapter``): the same batches in the same order, so the same numbers.

    Its autotuning thread made that dataset's iterator, deleted as ``fit`` returns, wait up to
    ~2.4 s in about half the trainings (a cnn2 training took 3.9 s or 6.3 s, measured
    2026-12-06). The adapter is Keras's internal class: where a Keras has none, nothing changes
    but the time (False)."""
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
        original = ArrayDataAdapter.get_tf_dataset
    except (ImportError, AttributeError):
        return False
    if getattr(original, "__grader_untuned__", False):
        return True

    def get_tf_dataset(self):
        options = tf.data.Options()
        options.autotune.enabled = False
        return original(self).with_options(options)

    vars(get_tf_dataset)["__grader_untuned__"] = True
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset
    return True


def limit_memory() -> None:
    """RLIMIT_DATA from ``GRADER_MEMORY_BYTES``: oversize allocations then fail cleanly."""
    wanted = int(os.environ.get("GRADER_MEMORY_BYTES", "0") or 0)
    if wanted > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def memory_now() -> dict:
    """Resident memory, and the data size that RLIMIT_DATA counts (from /proc/self/status)."""
    found = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmData"):
                    found[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"rss_bytes": found.get("VmRSS", 0), "data_bytes": found.get("VmData", 0)}


#: modules Keras imports when they are installed but a training never uses: refused here
#: (Keras does without them), ~0.4 CPU-s of every worker's start (matplotlib's pyplot)
UNUSED_MODULES = ("matplotlib",)


def refuse_unused_modules() -> None:
    """Make ``UNUSED_MODULES`` unimportable in this process (before Keras is imported)."""
    for name in UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import fails"
