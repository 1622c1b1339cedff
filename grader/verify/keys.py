"""The key of a verification job: everything that determines its result, hashed.

A memo answers a job from an earlier training only under the same key, so the key must cover
everything that changes the numbers (``job_key``) and nothing that does not (where the data file
lies, the student's layer names). A memo kept on disk (``grader.verify.persistent``) lives
across upgrades and may be copied between machines: the key therefore also covers the library
versions, the training code itself and the machine's architecture.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from pathlib import Path

from grader.util.versions import package_versions


def job_key(job: dict) -> str:
    """Everything that determines the result (not where the data file happens to lie), with
    what a memo kept on disk must not outlive or cross: the TensorFlow, Keras and NumPy
    versions, the code that trains (``code_fingerprint``), the machine's architecture and,
    where TensorFlow chooses its threads (``threads`` 0), the cores it chooses from."""
    body = {k: v for k, v in job.items() if k != "data_file"}
    body["versions"] = package_versions("tensorflow", "keras", "numpy")
    body["code"] = code_fingerprint()
    body["machine"] = platform.machine()
    if not body.get("threads"):
        body["cpus"] = usable_cpus()
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


#: the modules whose code decides a training's numbers: the worker (model building, training,
#: validation; its fused BatchNormalization), its process set-up (threads, determinism,
#: tf.data), what runs in it before a training (the warm-up), the allow-list it builds layers
#: from, the worker's environment (threads), and the zygote it is forked from (what it imports
#: first, how a forked child is set up)
TRAINING_CODE = ("verify/worker.py", "verify/fused.py", "verify/runtime.py", "verify/warmup.py",
                 "layers/allowlist.py", "verify/process.py", "verify/zygote.py",
                 "sandbox/zygote_server.py")


@functools.cache
def code_fingerprint() -> str:
    """sha256 over the training code's source: an edit to it makes every remembered result a
    miss (not only a version bump), so a memo never answers for code that no longer runs."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for name in TRAINING_CODE:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return digest.hexdigest()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
