"""The key of a verification job: everything that determines its result, hashed.

A memo answers a job from an earlier training only under the same key, so the key must cover
everything that changes the numbers (``job_key``) and nothing that does not (where the data file
lies, the student's layer names). A memo kept on disk (``grader.verify.persistent``) lives
across upgrades and may be copied between machines: the key therefore also covers the library
versions, the training code itself, the machine's architecture and instruction sets, and the
numeric libraries' settings.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from pathlib import Path

from grader.util.isolation import PASSED_PREFIXES, child_env
from grader.util.versions import package_versions


def job_key(job: dict) -> str:
    """Everything that determines the result (not where the data file happens to lie), with
    what a memo kept on disk must not outlive or cross: the TensorFlow, Keras and NumPy
    versions, the code that trains (``code_fingerprint``), the machine's architecture, its
    instruction sets (``cpu_isa``), the numeric libraries' settings the worker inherits
    (``numeric_env``) and, where TensorFlow chooses its threads (``threads`` 0), the cores it
    chooses from."""
    body = {k: v for k, v in job.items() if k != "data_file"}
    body["versions"] = package_versions("tensorflow", "keras", "numpy")
    body["code"] = code_fingerprint()
    body["machine"] = platform.machine()
    body["isa"] = cpu_isa()
    body["env"] = numeric_env()
    if not body.get("threads"):
        body["cpus"] = usable_cpus()
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


#: the instruction sets oneDNN and Eigen choose kernels by: a training's last digits differ
#: between an AVX2 and an AVX-512 machine of the same architecture (measured 2026-12-07 by
#: capping oneDNN's set: the solution's accuracy 0.925 -> 0.921667)
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")
#: what the worker inherits of the grader's environment but does not change the numbers
QUIET_ENV = ("TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL", "TF_CPP_VMODULE")


@functools.cache
def cpu_isa() -> list[str]:
    """The ``ISA_FLAGS`` this CPU has (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    have = set(value.split())
                    return [flag for flag in ISA_FLAGS if flag in have]
    except OSError:
        pass
    return []


def numeric_env() -> dict[str, str]:
    """The numeric-library settings the worker inherits (``isolation.PASSED_PREFIXES``: threads,
    oneDNN, XLA, OpenMP): each can change a training's numbers. All of them but the log levels,
    also one that only shares the prefix: a variable too many costs a miss (one training), one
    too few a remembered number that this machine would not compute."""
    return {k: v for k, v in sorted(child_env().items())
            if k.startswith(PASSED_PREFIXES) and k not in QUIET_ENV}


#: the modules whose code decides a training's numbers: the worker (model building, training,
#: validation; its fused BatchNormalization and its Adam), its process set-up (threads,
#: determinism, tf.data), what runs in it before a training (the warm-up), the allow-list it builds layers
#: from, the worker's environment (threads), and the zygote it is forked from (what it imports
#: first, how a forked child is set up)
TRAINING_CODE = ("verify/worker.py", "verify/fused.py", "verify/adam.py", "verify/runtime.py",
                 "verify/warmup.py", "layers/allowlist.py", "verify/process.py", "verify/zygote.py",
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
