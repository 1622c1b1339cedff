"""How a kernel process is started. The base ``Launcher`` runs it as a child process with a minimal
environment; the sandbox (``grader.sandbox.launcher``) provides a confined launcher with the same API."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.sandbox import fonts
from grader.sandbox.provisioner import ForkingProvisioner
from grader.settings import Settings
from grader.util import sockets

if TYPE_CHECKING:
    from grader.exceptions import LimitExceeded

KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


#: the longest name of a kernel's channel sockets (ZeroMQ ``ipc``: the address, a dash, a port)
KERNEL_SOCKET = "kernel-ipc-65535"


@dataclass
class LaunchSpec:
    """Everything nbclient needs to start one kernel."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    #: the host working dir as the kernel sees it, where it writes what the grader reads back
    #: (inside a sandbox: its working dir, or a separate bound dir at the rootless levels)
    kernel_cwd: Path
    transport: str = "tcp"
    ip: str = "127.0.0.1"
    connection_file: str | None = None
    #: after a kernel death, says why if the launcher knows (e.g. a memory limit was hit)
    death_reason: Callable[[], str | None] = field(default=lambda: None)
    #: after a failure (optionally given the error), the sandbox limit (memory, processes, disk,
    #: CPU) that caused it, if any
    limit_hit: Callable[..., LimitExceeded | None] = field(default=lambda exc=None: None)
    #: forks the sandbox has refused so far at its process limit (grows while a fork bomb
    #: spins: ``grader.execute.pinned``); 0 where the launcher cannot tell
    refusals: Callable[[], int] = field(default=lambda: 0)
    #: jupyter_client's provisioner class that starts the kernel (None: its default, a child
    #: process running ``argv``)
    provisioner: type | None = None


def channels_in(folder: str) -> tuple[str, str, str | None]:
    """The kernel's channels as Unix sockets in ``folder`` (a private one of the session's),
    as the sandbox's are: no loopback TCP port that another process can hold or that a
    connecting client can meet itself on (Linux connects a socket to itself when its source
    port is the one it calls; the channel then drops before the kernel listens, which would
    read as a refused message: ``grader.execute.channels``). TCP where the path is too long
    for a socket address."""
    if not sockets.fits(f"{folder}/{KERNEL_SOCKET}"):
        return "tcp", "127.0.0.1", None
    return "ipc", f"{folder}/kernel-ipc", f"{folder}/kernel.json"


def minimal_env(settings: Settings, home: str) -> dict[str, str]:
    """Only what a kernel needs: the grader's own variables and secrets stay out."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{home}/{fonts.MPL_DIR}",
        "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "",
    }
    if settings.tf_threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(settings.tf_threads)
        env["TF_NUM_INTEROP_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = str(settings.tf_threads)
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # correctness settings of this host
        if key in os.environ:
            env[key] = os.environ[key]
    return env


class Launcher:
    """Base: subclasses confine the kernel; ``name`` is recorded in results."""

    name = "off"

    def __init__(self, fork: bool = True) -> None:
        #: fork the kernel from a zygote that has imported what every kernel imports
        #: (``grader.sandbox.zygote``); False: start each one as a child process
        self.fork = fork

    @contextmanager
    def session(self, workdir: Path, settings: Settings, read_only: Sequence[str] = (),
                fork: bool = True) -> Iterator[LaunchSpec]:
        """A private home beside the working dir keeps IPython's files out of it. ``read_only``:
        files of ``workdir`` the notebook must not change (the sandbox binds them read-only;
        here only their write permission is removed, which the notebook could restore).
        ``fork``: the kernel may be forked from the zygote (the notebook names Keras or
        TensorFlow: ``grader.execute.needs``; else the zygote's imports are no use)."""
        for name in read_only:
            if (workdir / name).is_file():
                os.chmod(workdir / name, 0o444)
        home = tempfile.mkdtemp(prefix="grader-home-")
        try:
            fonts.seed_home(home)
            transport, ip, connection_file = channels_in(home)
            yield LaunchSpec(argv=list(KERNEL_ARGV), env=minimal_env(settings, home),
                             cwd=workdir, kernel_cwd=workdir, transport=transport, ip=ip,
                             connection_file=connection_file,
                             provisioner=ForkingProvisioner if self.fork and fork else None)
        finally:
            shutil.rmtree(home, ignore_errors=True)

