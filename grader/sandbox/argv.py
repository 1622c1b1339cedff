"""The bubblewrap command line of one sandboxed kernel: what the kernel sees of the host.

Two layouts of the working directory, by level:

- root with cgroups: the grader has already mounted a size-limited tmpfs (owned by the sandbox
  uid) over the host working dir, and binds it as the kernel's working dir;
- rootless, or without cgroups (containers, which usually cannot mount either; and no cgroup
  would tell a later grader that the mount is still in use): bubblewrap's own size-limited
  ``--tmpfs`` is the kernel's working dir, the input files are copied in (``--file``) or bound
  read-only, and the host working dir is bound at ``KERNEL_OUT``, where the extraction file is
  written for the grader to read (its size is watched by the guard, ``cgroups_none``).

Files named read-only (the provided data) are bound read-only over their copies at every level,
so that a notebook cannot overwrite, delete or rename them (``open(..., 'w')`` fails with EROFS,
``os.remove``/``os.rename`` with EBUSY) and a later cell still loads the original.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import seccomp
from grader.settings import Settings

KERNEL_CWD = Path("/home/student")
KERNEL_OUT = Path("/run/grader")
KERNEL_HOME = "/tmp/home"
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts")
#: sandbox_exec replaces these by inherited file descriptors (opened before dropping privileges)
OPEN_MARK, WRITE_MARK = "@open:", "@write:"


@dataclass
class Layout:
    """The paths a session's bubblewrap command refers to."""

    private: Path
    conn: Path
    workdir: Path
    #: bubblewrap's own tmpfs as the working dir (else the host dir, already a tmpfs)
    own_tmpfs: bool
    read_only: tuple[str, ...] = ()


def bwrap_argv(bwrap: str, layout: Layout, disk_bytes: int, env: dict[str, str],
               binds: list[list[str]], home_files: Sequence[tuple[Path, str]] = ()) -> list[str]:
    """Everything before ``--`` and the kernel command. ``home_files``: ``(file, path in the
    kernel's home)`` copied in (``grader.sandbox.fonts.home_files``)."""
    size = str(disk_bytes)
    argv = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--disable-userns", "--cap-drop", "ALL", "--hostname", "sandbox",
            "--info-fd", WRITE_MARK + str(layout.private / "info.json"),
            "--ro-bind", "/usr", "/usr"]
    argv += system_links()
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for name in ("passwd", "group"):
        argv += ["--ro-bind", str(layout.private / name), f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm",
             "--size", size, "--tmpfs", "/tmp", "--perms", "0700", "--dir", KERNEL_HOME]
    for kept, relative in home_files:  # copies: what one kernel changes, it keeps
        argv += ["--dir", os.path.dirname(f"{KERNEL_HOME}/{relative}"),
                 "--file", OPEN_MARK + str(kept), f"{KERNEL_HOME}/{relative}"]
    # Python after the private /tmp, which would otherwise hide a checkout under /tmp
    for source, target in binds:
        argv += ["--ro-bind", source, target]
    argv += _workdir(layout, size)
    argv += ["--bind", str(layout.conn), str(layout.conn),
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(KERNEL_CWD)]
    for key in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):  # systemd-run's, not the kernel's
        argv += ["--unsetenv", key]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if seccomp.supported():
        (layout.private / "seccomp.bpf").write_bytes(seccomp.program())
        argv += ["--seccomp", OPEN_MARK + str(layout.private / "seccomp.bpf")]
    return argv


def _workdir(layout: Layout, size: str) -> list[str]:
    """The kernel's working dir, its input files, and the read-only ones."""
    cwd = str(KERNEL_CWD)
    names = sorted(n for n in os.listdir(layout.workdir) if (layout.workdir / n).is_file())
    if not layout.own_tmpfs:  # the host dir is already a tmpfs of the sandbox uid
        argv = ["--bind", str(layout.workdir), cwd]
    else:
        argv = ["--size", size, "--perms", "0700", "--tmpfs", cwd]
        for name in names:
            if name not in layout.read_only:
                argv += ["--file", OPEN_MARK + str(layout.workdir / name), f"{cwd}/{name}"]
        argv += ["--bind", str(layout.workdir), str(KERNEL_OUT)]
    for name in layout.read_only:
        if name in names:
            argv += ["--ro-bind", str(layout.workdir / name), f"{cwd}/{name}"]
            if layout.own_tmpfs:  # the host dir is visible there too: the same file, read-only
                argv += ["--ro-bind", str(layout.workdir / name), f"{KERNEL_OUT}/{name}"]
    return argv


def systemd_scope(settings: Settings) -> list[str]:
    """systemd level: run bubblewrap in a transient user scope holding the tree's limits."""
    return [shutil.which("systemd-run") or "systemd-run", "--user", "--scope", "--quiet",
            "--collect", f"--unit=grader-{os.getpid()}-{secrets.token_hex(4)}",
            "-p", f"MemoryMax={settings.kernel_memory_bytes}", "-p", "MemorySwapMax=0",
            "-p", f"TasksMax={settings.kernel_max_pids}", "--"]


def scope_env() -> dict[str, str]:
    """What systemd-run needs to reach the user's manager (bwrap unsets it for the kernel)."""
    return {k: os.environ[k] for k in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
            if k in os.environ}


def python_roots() -> list[str]:
    """The directories the kernel's Python needs: the venv and the installation it uses."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    roots.add(os.path.abspath(sys.prefix))  # the venv as named in sys.executable's path
    return sorted(r for r in roots if not any(r != o and r.startswith(o + os.sep) for o in roots))


def system_links() -> list[str]:
    """/bin, /lib, ... as on the host: symlinks into /usr (merged /usr) or read-only binds."""
    out: list[str] = []
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            out += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            out += ["--ro-bind", name, name]
    return out
