"""Every tunable of a grading run, with defaults measured on a 2-core CPU machine."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: ``--sandbox``: the strongest available, only sandboxed, or none
SANDBOX_LEVELS = ("auto", "required", "off")


@dataclass(frozen=True)
class Settings:
    """One place for limits; every timeout is in seconds and named after what it bounds."""

    #: whole-notebook wall-clock limit (kernel start to last cell), ``--timeout``
    notebook_timeout: float = 300.0
    #: limit for a single cell; the course notebook's slowest cell takes < 40 s
    cell_timeout: float = 180.0
    #: waiting for the kernel to start and answer; extended while it makes progress (up to 3x),
    #: then one more try (``grader/execute/startup.py``)
    startup_timeout: float = 60.0
    #: epochs the notebook's own ``fit`` may run while the grader executes it. 0 (default):
    #: ``fit`` is skipped and returns a History of NaNs; the grader trains the architecture
    #: itself, and the student's own history comes from the notebook's saved outputs
    notebook_epochs: int = 0
    #: with ``notebook_epochs`` > 0: batches per epoch of that ``fit`` (0: all)
    notebook_steps: int = 1
    #: bytes of output (all cells together) kept before the kernel is stopped
    output_limit_bytes: int = 5_000_000
    #: largest notebook accepted (bytes on disk); a larger one is ``invalid_notebook`` "too large",
    #: never read or parsed: the course notebook with outputs is < 1 MB, so 50 MB is generous
    #: and keeps one hostile file from costing the coordinator hundreds of MB
    max_notebook_bytes: int = 50 * 1024**2
    #: largest extraction file read back from the kernel
    extract_limit_bytes: int = 5_000_000
    #: raw weight bytes of the notebook's models exported for the cross-check (the course's
    #: solution: 2.8 MB; a model this large is far past any exercise's parameter limit)
    crosscheck_limit_bytes: int = 64 * 1024**2
    #: models with more parameters than this many times the reference are rejected unbuilt
    max_params_factor: float = 20.0
    #: verification training (issue 3); ``None`` epochs means "what the spec says"
    verify: bool = True
    verify_epochs: int | None = None
    #: one verification training (the solution: ~5 s on 2 cores; 120 s is ~25 times that)
    verify_timeout: float = 120.0
    #: starting the verifier's worker process (importing TensorFlow: ~2–3 s)
    verify_start_timeout: float = 60.0
    #: RLIMIT_DATA of the verifier's worker (the solution peaks at ~1 GiB resident)
    verify_memory_bytes: int = 4 * 1024**3
    #: the verification memo kept between runs (``grader.verify.persistent``): ``auto``
    #: ($GRADER_MEMO, else the user cache's cnn-grader/memo), ``off``, or a folder; ``--memo``
    memo: str = "auto"
    #: sandbox level: ``auto``, ``required`` or ``off``
    sandbox: str = "auto"
    #: memory of the whole kernel process tree in the sandbox
    kernel_memory_bytes: int = 3 * 1024**3
    kernel_max_pids: int = 256
    kernel_max_file_bytes: int = 200 * 1024**2
    #: sandbox: size of the kernel's working dir and of its private /tmp and /dev/shm (each)
    kernel_disk_bytes: int = 512 * 1024**2
    #: sandbox: CPU seconds per kernel process (RLIMIT_CPU); the wall-clock limits come first
    kernel_cpu_seconds: float = 1200.0
    #: sandbox: CPU cores the kernel may use at once (cgroup quota; 0: no cap)
    kernel_cpus: float = 0.0
    #: TensorFlow threads for the kernel and the verifier (0: TensorFlow decides)
    tf_threads: int = 0
    #: batch: a worker still busy this long past its submission's own limits (startup +
    #: notebook + verification) is killed and the submission gets a grader-fault result
    worker_grace: float = 120.0
    #: batch: waiting for workers to stop (end of batch, Ctrl-C) before they are killed
    worker_stop_timeout: float = 10.0
    data_path: Path | None = None
    #: batch: the Dask scheduler to grade on (``--cluster``, ``GRADER_CLUSTER``); None: local
    cluster: str | None = None
    #: batch on a cluster: limit for every call to it (connect, send, ask) and for a lost scheduler
    #: (a call to every worker: plus Dask's connect timeout, ``grader.batch.cluster.calls.connect_timeout``)
    cluster_timeout: float = 30.0
    #: a plugin's (format's, executor's) own options, by name (``grader.options.EXTRA``)
    extras: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)
