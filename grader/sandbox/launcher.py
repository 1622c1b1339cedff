"""The sandboxed launcher: each notebook kernel runs under bubblewrap in its own user, PID,
network, IPC, UTS and cgroup namespaces, at the strongest level this machine offers
(``grader.sandbox.doctor``): as root a fresh unprivileged uid per kernel, otherwise the user's own uid in
a user namespace; limits from cgroup v1, a delegated cgroup v2 subtree, a systemd user scope, or
per-process rlimits plus a polled guard where no cgroup can be written (``cgroups_none``).

What the kernel sees (``sandbox_argv``): a read-only /usr, the few /etc files the dynamic linker
needs, a synthetic passwd, the Python installation (read-only), private /tmp and /dev/shm
(size-limited), its working directory (a size-limited tmpfs holding the notebook copy and the
data file, which is bound read-only) and the directory of its IPC sockets. No network (loopback
only; a seccomp filter also refuses socket families such as AF_VSOCK that a network namespace
does not cover). Nothing else of the host: not the repository, the reference solution, other
submissions, /root or other temp dirs.

Limits: memory and processes (whole tree with cgroups, per process without), file size, core
dumps and CPU time (rlimits), disk (the tmpfs sizes); the grader adds the wall-clock and output
limits. When the session ends, every process of the kernel is killed (the cgroup, or the PID
namespace's init) and the groups are removed.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from grader.exceptions import SandboxUnavailable
from grader.sandbox import cgroups, cgroups_none, cgroups_v2, doctor, fonts, limits
from grader.sandbox.argv import (
    KERNEL_CWD,
    KERNEL_HOME,
    KERNEL_OUT,
    Layout,
    bwrap_argv,
    python_roots,
    scope_env,
    systemd_scope,
)
from grader.sandbox.join import JoinPlan, holder_command, provisioner_for
from grader.sandbox.launch import KERNEL_SOCKET, Launcher, LaunchSpec, minimal_env
from grader.settings import Settings
from grader.util import sockets
from grader.util.scratch import stale_folders

#: what enforces a level's memory and process limits: a cgroup (v1, v2) or the guard
Limits = cgroups.Group | cgroups_v2.Group | cgroups_none.Guard
UID_BASE, UID_SPAN = 1_900_000_000, 100_000_000
SANDBOX_UIDS = range(UID_BASE, UID_BASE + UID_SPAN)
#: a session's own folder (``{prefix}{pid}-…``) and the kernel's socket dir
SESSION_PREFIX, CONN_PREFIX = "grader-sbx-", "grader-conn-"
EXEC = Path(__file__).with_name("exec.py")
MS_NOSUID, MS_NODEV, MS_NOEXEC, MNT_DETACH = 2, 4, 8, 2
MB = 1024 * 1024


@dataclass
class SessionRecord:
    """What one session used, so that tests and audits can check it left nothing behind."""

    uid: int
    #: the cgroup's name ("" at the levels without one)
    cgroup: str


class SandboxLauncher(Launcher):
    """bubblewrap + the limits of ``level``; ``create()`` says why it cannot run here."""

    _checked: ClassVar[set[str]] = set()

    def __init__(self, bwrap: str, level: doctor.Level, v2_base: Path | None = None) -> None:
        super().__init__(fork=False)  # each kernel starts inside namespaces of its own
        self.bwrap, self.level, self.v2_base = bwrap, level, v2_base
        self.name = level.name
        #: a host tmpfs needs root and a cgroup that marks it as in use (``remove_stale``)
        self.own_tmpfs = level.rootless or level.cgroups not in ("v1", "v2")
        self.sessions: list[SessionRecord] = []

    @classmethod
    def create(cls, forced: str | None = None) -> SandboxLauncher:
        """A launcher at the strongest level here (or ``forced``: ``v1``, ``v2``, ``none``; by
        default ``$GRADER_CGROUPS``), or ``SandboxUnavailable`` saying what to enable."""
        offer = doctor.survey(forced)
        level = doctor.choose(offer)
        if not level.rootless:
            _check_reachable(Path(tempfile.gettempdir()))
        assert offer.bwrap is not None  # choose() refuses a machine without bubblewrap
        launcher = cls(offer.bwrap, level, offer.v2_base)
        if level.name not in cls._checked:
            if not level.rootless:
                remove_stale()
            else:  # no mount or group of its own to clean up
                remove_stale_sessions()
            if level.cgroups == "v2" and offer.v2_base is not None:
                cgroups_v2.remove_stale(offer.v2_base)
                cgroups_v2.prepare(offer.v2_base)
            launcher._probe()
            cls._checked.add(level.name)
        return launcher

    @property
    def joins(self) -> bool:
        """Whether a kernel forked from the zygote can enter this level's sandbox
        (``grader.sandbox.join``): root, and limits in a cgroup the kernel joins by pid."""
        return not self.level.rootless and self.level.cgroups in ("v1", "v2") \
            and sys.platform.startswith("linux")

    @contextmanager
    def session(self, workdir: Path, settings: Settings, read_only: Sequence[str] = (),
                fork: bool = True) -> Iterator[LaunchSpec]:
        """``fork``: the notebook names Keras or TensorFlow (``Launcher.session``): its kernel
        enters the sandbox forked from the zygote, where this level allows."""
        command = [sys.executable, "-m", "ipykernel_launcher", "-f", "@connection_file"]
        joins = fork and self.joins
        if joins:
            command = holder_command(sys.executable, command)
        with self._sandbox(workdir, settings, command, read_only, joins) as (plan, conn, group):
            provisioner = provisioner_for(_join_plan(plan, conn)) if joins else None
            yield LaunchSpec(
                argv=[sys.executable, "-I", "-S", str(EXEC), str(plan), "{connection_file}"],
                env={"PATH": "/usr/bin:/bin"}, cwd=workdir,
                kernel_cwd=KERNEL_OUT if self.own_tmpfs else KERNEL_CWD,
                transport="ipc", ip=str(conn / "kernel-ipc"),
                connection_file=str(conn / "kernel.json"),
                limit_hit=lambda exc=None: limits.limit_hit(
                    group, workdir, settings, self.level.cgroups != "none", exc, self.own_tmpfs),
                refusals=group.refused_forks,
                provisioner=provisioner)

    @contextmanager
    def _sandbox(self, workdir: Path, settings: Settings, command: list[str],
                 read_only: Sequence[str] = (), holder: bool = False) -> Iterator[tuple[Path, Path, Limits]]:
        """Set up uid, tmpfs, limits and plan; whatever happens, tear everything down.
        ``holder``: ``command`` is ``grader.sandbox.join``'s holder, the sandbox's first process."""
        rootless = self.level.rootless
        uid = os.getuid() if rootless else UID_BASE + secrets.randbelow(UID_SPAN)
        # plan, filter, passwd, roots/: named after this process (removed by the next grader if
        # this one is killed: remove_stale), unlike the socket dir the kernel sees
        private = Path(tempfile.mkdtemp(prefix=f"{SESSION_PREFIX}{os.getpid()}-"))
        private.chmod(0o700 if rootless else 0o711)  # the sandbox uid may reach roots/ and passwd
        try:  # the kernel's IPC sockets, where their paths fit (``grader.util.sockets``); named
            # after this process too: in a short base no session folder may be left to name it
            conn = Path(sockets.socket_folder(f"{CONN_PREFIX}{os.getpid()}-", KERNEL_SOCKET))
        except OSError as exc:
            shutil.rmtree(private, ignore_errors=True)
            raise SandboxUnavailable(f"no folder for the kernel's channels: {exc}") from exc
        (private / "conn").write_text(str(conn))
        (private / "conn").chmod(0o600)
        group, mounted = None, False
        try:
            if not rootless:
                os.chown(conn, uid, uid)
                if self.own_tmpfs:  # bound at KERNEL_OUT, where the kernel writes for the grader
                    os.chown(workdir, uid, uid)
            # the group first: a workdir mount without a live group is stale (remove_stale)
            group = self._group(uid, private, workdir, settings)
            self.sessions.append(SessionRecord(uid, group.name))
            if not self.own_tmpfs:
                _mount_workdir(workdir, uid, settings.kernel_disk_bytes)
                mounted = True
            layout = Layout(private, conn, workdir, self.own_tmpfs, tuple(read_only))
            yield self._plan(uid, group, layout, settings, command, holder), conn, group
        finally:
            if group is not None:
                group.kill()
            if mounted:
                _unmount(workdir)
            if group is not None:
                group.remove()
            shutil.rmtree(conn, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)

    def _group(self, uid: int, private: Path, workdir: Path, settings: Settings):
        """The limits of this level: a cgroup (v1, v2) or the guard (rlimits, systemd scope)."""
        memory, pids = settings.kernel_memory_bytes, settings.kernel_max_pids
        if self.level.cgroups == "v1":
            return cgroups.Group.create(str(uid), memory, pids, settings.kernel_cpus)
        if self.level.cgroups == "v2":
            assert self.v2_base is not None  # the v2 level is chosen only with a delegated group
            return cgroups_v2.Group.create(self.v2_base, str(uid), memory, pids, settings.kernel_cpus)
        watch = (workdir, settings.kernel_disk_bytes) if self.own_tmpfs else None
        return cgroups_none.Guard(private / "info.json", memory, pids,
                                  scope=self.level.cgroups == "systemd", watch_dir=watch)

    def _plan(self, uid: int, group, layout: Layout, settings: Settings, command: list[str],
              holder: bool = False) -> Path:
        """Write what ``sandbox_exec`` does as JSON (mode 0600) in the private dir."""
        private = layout.private
        for name, line in (("passwd", f"student:x:{uid}:{uid}:student:{KERNEL_HOME}:/bin/sh\n"),
                           ("group", f"student:x:{uid}:\n")):
            (private / name).write_text(line)
            (private / name).chmod(0o644)
        env = kernel_env(settings)
        if self.level.rootless:  # the user reaches the Python itself: bind it directly
            binds, staged = [[root, root] for root in python_roots()], []
        else:  # staged by sandbox_exec: the sandbox uid may not reach e.g. /root
            staged = [[root, str(private / "roots" / str(i))] for i, root in enumerate(python_roots())]
            binds = [[target, root] for root, target in staged]
            for _, target in staged:
                os.makedirs(target, mode=0o755)
        argv = bwrap_argv(self.bwrap, layout, settings.kernel_disk_bytes, env, binds,
                          fonts.home_files()) + (["--as-pid-1"] if holder else []) + ["--"]
        if self.level.cgroups == "none":
            # RLIMIT_NPROC set inside the user namespace counts only the sandbox's tasks there
            # (a user's own tasks outside count only against the limit they had at its creation)
            argv += [shutil.which("prlimit") or "/usr/bin/prlimit",
                     f"--nproc={settings.kernel_max_pids}", "--"]
        argv += command
        scope = self.level.cgroups == "systemd"
        plan = {"uid": uid, "cgroup_procs": group.procs_files(), "binds": staged,
                "argv": (systemd_scope(settings) if scope else []) + argv,
                "env": scope_env() if scope else {},
                "rlimits": self._rlimits(settings), "kernel_env": env}
        path = private / "plan.json"
        path.write_text(json.dumps(plan))
        path.chmod(0o600)
        return path

    def _rlimits(self, settings: Settings) -> dict[str, list[int]]:
        """Always file size, core dumps, CPU; per-process memory and tasks without cgroups."""
        cpu = int(settings.kernel_cpu_seconds)
        limits = {"RLIMIT_FSIZE": [settings.kernel_max_file_bytes] * 2, "RLIMIT_CORE": [0, 0],
                  "RLIMIT_CPU": [cpu, cpu + 5]}
        if self.level.cgroups == "none":
            limits["RLIMIT_DATA"] = [settings.kernel_memory_bytes] * 2
            if not self.level.rootless:  # a fresh uid: its tasks are the sandbox's
                limits["RLIMIT_NPROC"] = [settings.kernel_max_pids] * 2
        return limits

    def _probe(self) -> None:
        """Start a trivial sandbox once, so that a broken setup fails now with its reason."""
        workdir = Path(tempfile.mkdtemp(prefix="grader-run-probe-"))
        settings = Settings(kernel_memory_bytes=256 * MB, kernel_max_pids=16, kernel_disk_bytes=MB)
        command = [sys.executable, "-c", "import os; os.listdir('.')"]
        try:
            with self._sandbox(workdir, settings, command) as (plan, _, _):
                proc = subprocess.run([sys.executable, "-I", "-S", str(EXEC), str(plan)],
                                      env={"PATH": "/usr/bin:/bin"}, cwd=workdir,
                                      capture_output=True, text=True, timeout=30)
            if proc.returncode != 0:
                raise SandboxUnavailable(f"bubblewrap failed to start a sandbox ({self.name}): "
                                         f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxUnavailable(f"cannot set up the sandbox ({self.name}): {exc}") from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            self.sessions.clear()


def kernel_env(settings: Settings) -> dict[str, str]:
    """A sandboxed kernel's whole environment."""
    env = minimal_env(settings, KERNEL_HOME)
    env.update(USER="student", LOGNAME="student", TMPDIR="/tmp")
    return env


def join_env(settings: Settings) -> dict[str, str] | None:
    """The environment of the kernels that enter this machine's sandbox forked from the kernel
    zygote (what its zygote is started with), or None where no level here lets them."""
    try:
        launcher = SandboxLauncher.create()
    except SandboxUnavailable:
        return None
    return kernel_env(settings) if launcher.joins else None


def _join_plan(plan: Path, conn: Path) -> JoinPlan:
    """What a forked kernel enters (``grader.sandbox.join``), from the session's plan."""
    written = json.loads(plan.read_text())
    return JoinPlan(info=plan.parent / "info.json", uid=written["uid"],
                    cgroup_procs=written["cgroup_procs"], rlimits=written["rlimits"],
                    env=written["kernel_env"], cwd=str(KERNEL_CWD),
                    connection_file=str(conn / "kernel.json"))


def remove_stale_sessions() -> None:
    """Remove the session folders (and the socket dir each names) of graders that have ended:
    a grader killed outright leaves them (``grader.util.scratch``)."""
    for private in stale_folders(SESSION_PREFIX):
        try:
            conn = Path((private / "conn").read_text())
        except OSError:
            conn = None
        if conn is not None and conn.name.startswith(CONN_PREFIX) \
                and str(conn.parent) in (str(private.parent), *sockets.SHORT_BASES):
            shutil.rmtree(conn, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
    # a socket folder in a short base outlives its session folder when the batch's temp dir
    # that held the session folder went first (a killed worker's, or a killed batch's)
    for base in sockets.bases()[1:]:
        for conn in stale_folders(CONN_PREFIX, root=base, owners=SANDBOX_UIDS):
            shutil.rmtree(conn, ignore_errors=True)


def remove_stale() -> None:
    """Clean up after graders that were killed outright (a batch worker past its grace time):
    their kernels died with them (--die-with-parent), but workdir mounts, groups and session
    folders remain."""
    remove_stale_sessions()
    live = cgroups.live_tags()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        target, parts = fields.split(" ")[4], tail.split(" ")
        match = re.search(r"\buid=(\d+)", parts[-1]) if len(parts) >= 3 else None
        if (parts[0] == "tmpfs" and match and os.path.basename(target).startswith("grader-run-")
                and int(match.group(1)) in SANDBOX_UIDS
                and match.group(1) not in live):
            _unmount(Path(target))
            shutil.rmtree(target, ignore_errors=True)
    cgroups.remove_stale()


def _check_reachable(folder: Path) -> None:
    """bwrap binds the run and socket dirs as the sandbox uid: it must traverse their parents."""
    for path in [folder.resolve(), *folder.resolve().parents]:
        if not path.stat().st_mode & 0o001:
            raise SandboxUnavailable(f"the temp dir {folder} is not reachable by other users "
                                     f"({path} lacks o+x); set TMPDIR to a folder with mode 0711 or 1777")


def _mount_workdir(workdir: Path, uid: int, size: int) -> None:
    """Put a size-limited tmpfs owned by ``uid`` over ``workdir``, with its files copied in."""
    names = [n for n in os.listdir(workdir) if (workdir / n).is_file()]
    sources = {n: open(workdir / n, "rb") for n in names}  # stay readable once hidden
    try:
        used = sum(os.fstat(f.fileno()).st_size for f in sources.values())
        options = f"size={size + used + 1024 * 1024},mode=0700,uid={uid},gid={uid}"
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"tmpfs", os.fsencode(workdir), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      options.encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot mount a tmpfs on {workdir}: {os.strerror(err)}")
        for name, source in sources.items():
            with open(workdir / name, "xb") as target:
                shutil.copyfileobj(source, target)
            os.chown(workdir / name, uid, uid)
    finally:
        for source in sources.values():
            source.close()


def _unmount(workdir: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(os.fsencode(workdir), MNT_DETACH)
