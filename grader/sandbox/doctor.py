"""What this machine offers the sandbox, and the level ``grade`` uses: strongest first.

Levels (named in every result, the report footer and the batch summary):

- ``bwrap+cgroup-v1``: root; a fresh uid per kernel; cgroup v1 memory and pids for the whole tree.
- ``bwrap+cgroup-v2``: root; a fresh uid; a delegated cgroup v2 subtree (not verified on a real
  v2 host).
- ``bwrap-rootless+systemd``: not root; the user's uid in a user namespace; the cgroup v2 limits
  of a ``systemd-run --user --scope`` (not verified on a real v2 host).
- ``bwrap+rlimits`` / ``bwrap-rootless+rlimits``: no writable cgroups (containers); limits per
  process, not for the whole tree, plus a polled guard over the PID namespace (``cgroups_none``).

Every level isolates (user, PID, network, mount namespaces; private filesystem; no network):
``--sandbox required`` refuses only where bubblewrap or user namespaces are missing.
``GRADER_CGROUPS=v1|v2|none`` forces the cgroup part (tests; operators who know better).
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.exceptions import SandboxUnavailable, UsageError
from grader.sandbox import cgroups, cgroups_v2

FORCE_VAR = "GRADER_CGROUPS"
FORCED = ("v1", "v2", "none")
NOT_VERIFIED = "not verified on a real v2 host"
USERNS_FIX = ("enable unprivileged user namespaces: sudo sysctl -w user.max_user_namespaces=15000 "
              "(Debian 10: kernel.unprivileged_userns_clone=1; Ubuntu >= 23.10: "
              "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap); "
              "in Docker: --security-opt seccomp=unconfined --security-opt apparmor=unconfined")


@dataclass(frozen=True)
class Level:
    name: str
    #: ``v1``, ``v2``, ``systemd`` or ``none``
    cgroups: str
    rootless: bool
    promise: str
    verified: bool = True


LEVELS = {
    ("v1", False): Level("bwrap+cgroup-v1", "v1", False, "a fresh uid per kernel; memory and "
                         "processes limited for the whole process tree (cgroup v1)"),
    ("v2", False): Level("bwrap+cgroup-v2", "v2", False, "a fresh uid per kernel; memory and "
                         "processes limited for the whole process tree (delegated cgroup v2 "
                         "subtree)", verified=False),
    ("systemd", True): Level("bwrap-rootless+systemd", "systemd", True, "your uid in a user "
                             "namespace; memory and processes limited for the whole tree (cgroup "
                             "v2 of a systemd user scope)", verified=False),
    ("none", False): Level("bwrap+rlimits", "none", False, "a fresh uid per kernel; limits per "
                           "process, not for the whole tree (RLIMIT_DATA, RLIMIT_NPROC of that "
                           "uid), plus a polled memory guard over the whole tree"),
    ("none", True): Level("bwrap-rootless+rlimits", "none", True, "your uid in a user namespace; "
                          "limits per process, not for the whole tree (RLIMIT_DATA, RLIMIT_NPROC), "
                          "plus a polled memory guard over the whole tree"),
}


@dataclass
class Offer:
    """What this machine has; ``None`` reasons mean "available"."""

    linux: bool
    root: bool
    bwrap: str | None
    userns: str | None
    v1: str | None
    v2_base: Path | None
    v2: str | None
    systemd_user: str | None
    forced: str | None
    notes: list[str] = field(default_factory=list)


def survey(forced: str | None = None) -> Offer:
    """Look at this machine (cheap: one trivial bubblewrap run for user namespaces)."""
    forced = forced if forced is not None else os.environ.get(FORCE_VAR) or None
    if forced is not None and forced not in FORCED:
        raise UsageError(f"{FORCE_VAR} must be one of {', '.join(FORCED)} (it is {forced!r})")
    linux = sys.platform.startswith("linux")
    bwrap = shutil.which("bwrap") if linux else None
    base = cgroups_v2.own_cgroup() if linux else None
    return Offer(linux=linux, root=linux and os.geteuid() == 0, bwrap=bwrap,
                 userns=_userns(bwrap) if linux else "not Linux", v1=_v1(),
                 v2_base=base, v2=cgroups_v2.missing(base), systemd_user=_systemd_user(),
                 forced=forced)


def choose(offer: Offer) -> Level:
    """The strongest level ``offer`` allows (or the forced one), else ``SandboxUnavailable``."""
    if not offer.linux:
        raise SandboxUnavailable(f"the sandbox needs Linux namespaces (this is {sys.platform})")
    if offer.bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install "
                                 "bubblewrap)")
    if offer.userns is not None:
        raise SandboxUnavailable(f"user namespaces do not work here ({offer.userns}); "
                                 f"{USERNS_FIX}")
    wanted = [offer.forced] if offer.forced else ["v1", "v2", "none"]
    for kind in wanted:
        if kind == "v1" and offer.root and offer.v1 is None:
            return LEVELS["v1", False]
        if kind == "v2" and offer.root and offer.v2 is None:
            return LEVELS["v2", False]
        if kind == "v2" and not offer.root and offer.systemd_user is None:
            return LEVELS["systemd", True]
        if kind == "none":
            return LEVELS["none", not offer.root]
    assert offer.forced is not None  # the levels above answer every unforced survey
    reason = {"v1": offer.v1, "v2": offer.v2 if offer.root else offer.systemd_user}[offer.forced]
    raise SandboxUnavailable(f"{FORCE_VAR}={offer.forced} but that level is not available here: "
                             f"{reason or 'it needs root'}")


def fixes(offer: Offer) -> list[str]:
    """For each missing piece: what it costs and the command that adds it."""
    out = []
    if offer.bwrap is None:
        out.append("bubblewrap: sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap)")
    if offer.userns is not None:
        out.append(f"user namespaces: {USERNS_FIX}")
    if not offer.root:
        out.append("a fresh uid per kernel needs root: sudo env GRADER_DATA=... grader grade ...")
        if offer.systemd_user is not None:
            out.append(f"limits for the whole tree as a user ({offer.systemd_user}): a systemd "
                       "user session delegates them by default (systemd >= 244): log in through "
                       "systemd-logind, or loginctl enable-linger $USER")
    elif offer.v1 is not None and offer.v2 is not None:
        out.append(f"limits for the whole tree as root ({offer.v2}): sudo systemd-run --scope "
                   "-p Delegate=yes -- grader grade ...; in Docker: docker run --cgroupns=private "
                   "(cgroup v2 host) so that the container's root owns its cgroup")
    return out


def report(offer: Offer) -> str:
    """The text ``grader doctor`` prints."""
    def say(reason: str | None, good: str) -> str:
        return f"yes ({good})" if reason is None else f"no: {reason}"

    rows = [("Linux", say(None if offer.linux else sys.platform, platform.release())),
            ("root", "yes" if offer.root else f"no (uid {os.getuid()})"),
            ("bubblewrap", offer.bwrap or "no: not installed"),
            ("user namespaces", say(offer.userns, "bubblewrap starts one")),
            ("cgroup v1", say(offer.v1, "memory and pids writable")),
            ("cgroup v2", say(offer.v2, f"delegated at {offer.v2_base}; {NOT_VERIFIED}")),
            ("systemd user scope", say(offer.systemd_user, f"delegates memory and pids; {NOT_VERIFIED}")),
            (FORCE_VAR, offer.forced or "not set (strongest available)")]
    lines = ["grader doctor: what this machine offers the sandbox"]
    lines += [f"  {name + ' ':.<22} {value}" for name, value in rows]
    try:
        level = choose(offer)
        lines.append(f"grade would use: {level.name}: {level.promise}"
                     + ("" if level.verified else f" ({NOT_VERIFIED})"))
    except SandboxUnavailable as exc:
        lines.append(f"grade would use: no sandbox ({exc.message}); grade exits 5 unless "
                     "--sandbox off (trusted notebooks only)")
    missing = fixes(offer)
    lines += ["to add what is missing:"] + [f"  - {fix}" for fix in missing] if missing else []
    return "\n".join(lines)


def _v1() -> str | None:
    try:
        cgroups.check()
        return None
    except SandboxUnavailable as exc:
        return exc.message


def _userns(bwrap: str | None) -> str | None:
    if bwrap is None:
        return "bubblewrap is not installed"
    try:
        proc = subprocess.run([bwrap, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/",
                               "--proc", "/proc", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if proc.returncode == 0 else (proc.stderr.strip()[-300:] or f"exit {proc.returncode}")


def _systemd_user() -> str | None:
    """A systemd user manager that delegates memory and pids to its scopes."""
    if not Path("/run/systemd/system").is_dir():
        return "systemd is not running"
    if shutil.which("systemd-run") is None:
        return "systemd-run is not installed"
    uid = os.getuid()
    manager = Path(f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service")
    try:
        offered = (manager / "cgroup.subtree_control").read_text().split()
    except OSError:
        offered = []
    if not all(c in offered for c in cgroups_v2.REQUIRED):
        return f"no systemd user manager delegating memory and pids at {manager}"
    return None
