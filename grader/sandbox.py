"""The sandboxed launcher: each notebook kernel runs under bubblewrap as a fresh unprivileged
uid, in its own user, PID, network, IPC, UTS and cgroup namespaces, inside cgroup v1 limits.

What the kernel sees: a read-only /usr, the few /etc files the dynamic linker needs, a
synthetic passwd, the Python installation (venv and base interpreter, read-only), private
/tmp and /dev/shm (size-limited), its working directory (a size-limited tmpfs holding the
notebook copy and the data file, the only writable place it shares with the grader) and the
directory of its IPC sockets. No network (loopback only; a seccomp filter also refuses socket
families such as AF_VSOCK that a network namespace does not cover). Nothing else of the host:
not the repository, the reference solution, other submissions, /root or other temp dirs.

Limits: memory and processes of the whole tree (cgroups), file size, core dumps and CPU time
(rlimits), disk (the tmpfs sizes); the grader adds the wall-clock and output limits. When the
session ends, every process of the kernel's cgroup is killed and the groups are removed.
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

from . import cgroups, seccomp
from .exceptions import LimitExceeded, SandboxUnavailable
from .launch import LaunchSpec, Launcher, minimal_env
from .settings import Settings

KERNEL_CWD = Path("/home/student")
KERNEL_HOME = "/tmp/home"
UID_BASE, UID_SPAN = 1_900_000_000, 100_000_000
EXEC = Path(__file__).with_name("sandbox_exec.py")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts")
MS_NOSUID, MS_NODEV, MS_NOEXEC, MNT_DETACH = 2, 4, 8, 2
#: a working dir with less free space than this after a failure counts as full
DISK_FULL_MARGIN = 1024 * 1024


@dataclass
class SessionRecord:
    """What one session used, so that tests and audits can check it left nothing behind."""

    uid: int
    cgroup: str


class SandboxLauncher(Launcher):
    """bubblewrap + cgroup v1 + seccomp; ``create()`` says why it cannot run here."""

    name = "bwrap"
    _checked: ClassVar[bool] = False

    def __init__(self, bwrap: str) -> None:
        self.bwrap = bwrap
        self.sessions: list[SessionRecord] = []

    @classmethod
    def create(cls) -> "SandboxLauncher":
        """A launcher, or ``SandboxUnavailable`` with the reason this machine cannot run one."""
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(f"the sandbox needs Linux namespaces and cgroups (this is {sys.platform})")
        if os.geteuid() != 0:
            raise SandboxUnavailable("the sandbox needs root (to set up cgroups and switch to an "
                                     "unprivileged uid)")
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
        cgroups.check()
        _check_reachable(Path(tempfile.gettempdir()))
        launcher = cls(bwrap)
        if not cls._checked:
            remove_stale()
            launcher._probe()
            cls._checked = True
        return launcher

    @contextmanager
    def session(self, workdir: Path, settings: Settings) -> Iterator[LaunchSpec]:
        command = [sys.executable, "-m", "ipykernel_launcher", "-f", "@connection_file"]
        with self._sandbox(workdir, settings, command) as (plan, conn, group):
            yield LaunchSpec(
                argv=[sys.executable, "-I", "-S", str(EXEC), str(plan), "{connection_file}"],
                env={"PATH": "/usr/bin:/bin"}, cwd=workdir, kernel_cwd=KERNEL_CWD,
                transport="ipc", ip=str(conn / "kernel-ipc"),
                connection_file=str(conn / "kernel.json"),
                limit_hit=lambda: _limit_hit(group, workdir, settings))

    @contextmanager
    def _sandbox(self, workdir: Path, settings: Settings,
                 command: list[str]) -> Iterator[tuple[Path, Path, cgroups.Group]]:
        """Set up uid, tmpfs, cgroups and plan; whatever happens, tear everything down."""
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        private = Path(tempfile.mkdtemp(prefix="grader-sbx-"))  # plan, filter, passwd, roots/
        private.chmod(0o711)  # the sandbox uid may reach roots/ and passwd, not list or read the rest
        conn = Path(tempfile.mkdtemp(prefix="grader-conn-"))    # the kernel's IPC sockets
        group, mounted = None, False
        try:
            os.chown(conn, uid, uid)
            # the group first: a workdir mount without a live group is stale (remove_stale)
            group = cgroups.Group.create(str(uid), settings.kernel_memory_bytes,
                                         settings.kernel_max_pids, settings.kernel_cpus)
            self.sessions.append(SessionRecord(uid, group.name))
            _mount_workdir(workdir, uid, settings.kernel_disk_bytes)
            mounted = True
            yield self._plan(uid, group, private, conn, workdir, settings, command), conn, group
        finally:
            if group is not None:
                group.kill()
            if mounted:
                _unmount(workdir)
            if group is not None:
                group.remove()
            shutil.rmtree(conn, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)

    def _plan(self, uid: int, group: cgroups.Group, private: Path, conn: Path, workdir: Path,
              settings: Settings, command: list[str]) -> Path:
        """Write what ``sandbox_exec`` does as JSON (mode 0600) in the private dir."""
        for name, line in (("passwd", f"student:x:{uid}:{uid}:student:{KERNEL_HOME}:/bin/sh\n"),
                           ("group", f"student:x:{uid}:\n")):
            (private / name).write_text(line)
            (private / name).chmod(0o644)
        env = minimal_env(settings, KERNEL_HOME)
        env.update(USER="student", LOGNAME="student", TMPDIR="/tmp")
        binds = [[root, str(private / "roots" / str(i))] for i, root in enumerate(python_roots())]
        argv = self._bwrap_argv(private, conn, workdir, settings, env, binds) + ["--"] + command
        cpu = int(settings.kernel_cpu_seconds)
        for _, target in binds:
            os.makedirs(target, mode=0o755)
        plan = {"uid": uid, "cgroup_procs": group.procs_files(), "argv": argv, "binds": binds,
                "rlimits": {"RLIMIT_FSIZE": [settings.kernel_max_file_bytes] * 2,
                            "RLIMIT_CORE": [0, 0], "RLIMIT_CPU": [cpu, cpu + 5]}}
        path = private / "plan.json"
        path.write_text(json.dumps(plan))
        path.chmod(0o600)
        return path

    def _bwrap_argv(self, private: Path, conn: Path, workdir: Path, settings: Settings,
                    env: dict[str, str], binds: list[list[str]]) -> list[str]:
        tmp_size = str(settings.kernel_disk_bytes)
        argv = [self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                "--disable-userns", "--cap-drop", "ALL", "--hostname", "sandbox",
                "--ro-bind", "/usr", "/usr"]
        argv += _system_links()
        for name in ETC_FILES:
            if os.path.exists(f"/etc/{name}"):
                argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        for name in ("passwd", "group"):
            argv += ["--ro-bind", str(private / name), f"/etc/{name}"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", tmp_size, "--tmpfs", "/dev/shm",
                 "--size", tmp_size, "--tmpfs", "/tmp", "--perms", "0700", "--dir", KERNEL_HOME]
        # Python after the private /tmp, which would otherwise hide a checkout under /tmp
        for root, staged in binds:  # staged by sandbox_exec: the uid may not reach e.g. /root
            argv += ["--ro-bind", staged, root]
        argv += ["--bind", str(workdir), str(KERNEL_CWD), "--bind", str(conn), str(conn),
                 "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(KERNEL_CWD)]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        if seccomp.supported():
            (private / "seccomp.bpf").write_bytes(seccomp.program())
            argv += ["--seccomp", f"@open:{private / 'seccomp.bpf'}"]
        return argv

    def _probe(self) -> None:
        """Start a trivial sandbox once, so that a broken setup fails now with its reason."""
        workdir = Path(tempfile.mkdtemp(prefix="grader-run-probe-"))
        settings = Settings(kernel_memory_bytes=256 * 1024**2, kernel_max_pids=16,
                            kernel_disk_bytes=1024**2)
        command = [sys.executable, "-c", "import os; os.listdir('.')"]
        try:
            with self._sandbox(workdir, settings, command) as (plan, _, _):
                proc = subprocess.run([sys.executable, "-I", "-S", str(EXEC), str(plan)],
                                      env={"PATH": "/usr/bin:/bin"}, cwd=workdir,
                                      capture_output=True, text=True, timeout=30)
            if proc.returncode != 0:
                raise SandboxUnavailable("bubblewrap failed to start a sandbox: "
                                         f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxUnavailable(f"cannot set up the sandbox: {exc}") from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            self.sessions.clear()


def remove_stale() -> None:
    """Clean up after graders that were killed outright (a batch worker past its grace time):
    their kernels died with them (--die-with-parent), but workdir mounts and groups remain."""
    live = cgroups.live_tags()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        target, parts = fields.split(" ")[4], tail.split(" ")
        match = re.search(r"\buid=(\d+)", parts[-1]) if len(parts) >= 3 else None
        if (parts[0] == "tmpfs" and match and os.path.basename(target).startswith("grader-run-")
                and UID_BASE <= int(match.group(1)) < UID_BASE + UID_SPAN
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


def python_roots() -> list[str]:
    """The directories the kernel's Python needs: the venv and the installation it uses."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    roots.add(os.path.abspath(sys.prefix))  # the venv as named in sys.executable's path
    return sorted(r for r in roots if not any(r != o and r.startswith(o + os.sep) for o in roots))


def _system_links() -> list[str]:
    """/bin, /lib, ... as on the host: symlinks into /usr (merged /usr) or read-only binds."""
    out: list[str] = []
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            out += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            out += ["--ro-bind", name, name]
    return out


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


def _limit_hit(group: cgroups.Group | None, workdir: Path, settings: Settings) -> LimitExceeded | None:
    """After a failure: was it a sandbox limit? The message names the limit."""
    if group is None:
        return None
    mb = 1024 * 1024
    if group.memory_exceeded():
        return LimitExceeded(f"the notebook used more than the memory limit of "
                             f"{settings.kernel_memory_bytes // mb:,} MB (all its processes "
                             "together); the largest process was killed", kind="memory_limit")
    if group.pids_exceeded():
        return LimitExceeded(f"the notebook tried to run more than {settings.kernel_max_pids} "
                             "processes or threads at once", kind="process_limit")
    try:
        disk = os.statvfs(workdir)
        if disk.f_bavail * disk.f_frsize < DISK_FULL_MARGIN:
            return LimitExceeded(f"the notebook filled its working directory (limit "
                                 f"{settings.kernel_disk_bytes // mb:,} MB)", kind="disk_limit")
    except OSError:
        pass
    if group.cpu_seconds() >= 0.95 * settings.kernel_cpu_seconds:  # cpuacct lags a little
        return LimitExceeded(f"the notebook used more than {settings.kernel_cpu_seconds:g} s of "
                             "CPU time", kind="cpu_limit")
    return None
