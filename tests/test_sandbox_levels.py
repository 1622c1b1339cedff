"""Sandbox levels: which one a machine gets (``grader doctor``), the cgroup v2 code against a fake
cgroupfs (no real v2 host here), and a smoke subset of the hostile corpus at the strongest level
(cgroup v1). The full corpus runs at the no-cgroup level (``test_sandbox.py``); the rootless
level runs for real as an unprivileged user in ``test_sandbox_rootless.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from grader.exceptions import SandboxUnavailable, UsageError
from grader.sandbox import cgroups_v2, doctor

from tests.conftest import ROOT

FULL = doctor.Offer(linux=True, root=True, bwrap="/usr/bin/bwrap", userns=None, v1=None,
                    v2_base=Path("/sys/fs/cgroup/grader.slice"), v2=None, systemd_user=None,
                    forced=None)
NO_V1 = replace(FULL, v1="no cgroup v1 'memory' controller at /sys/fs/cgroup/memory")
NO_CGROUPS = replace(NO_V1, v2="the cgroup v2 group / is not writable by this user (not delegated)")
USER = replace(FULL, root=False, v1="not writable", v2="not writable")


@pytest.mark.parametrize("offer, level", [
    (FULL, "bwrap+cgroup-v1"),
    (NO_V1, "bwrap+cgroup-v2"),
    (NO_CGROUPS, "bwrap+rlimits"),
    (USER, "bwrap-rootless+systemd"),
    (replace(USER, systemd_user="systemd is not running"), "bwrap-rootless+rlimits"),
    (replace(FULL, forced="none"), "bwrap+rlimits"),
    (replace(FULL, forced="v2"), "bwrap+cgroup-v2"),
    (replace(USER, forced="none"), "bwrap-rootless+rlimits"),
], ids=["root-v1", "root-v2", "container", "user-systemd", "laptop-user", "forced-none",
        "forced-v2", "user-forced-none"])
def test_the_strongest_available_level_is_chosen_unless_one_is_forced(offer, level):
    assert doctor.choose(offer).name == level


def test_only_the_levels_without_cgroups_promise_limits_per_process_only():
    limited = {lvl.name for lvl in doctor.LEVELS.values() if "per process" in lvl.promise}
    assert limited == {"bwrap+rlimits", "bwrap-rootless+rlimits"}
    unverified = {lvl.name for lvl in doctor.LEVELS.values() if not lvl.verified}
    assert unverified == {"bwrap+cgroup-v2", "bwrap-rootless+systemd"}


@pytest.mark.parametrize("offer, says", [
    (replace(FULL, userns="setting up uid map: Permission denied"), "sysctl"),
    (replace(FULL, bwrap=None), "apt-get install bubblewrap"),
    (replace(NO_CGROUPS, forced="v1"), "GRADER_CGROUPS=v1"),
    (replace(USER, systemd_user="systemd is not running", forced="v2"), "systemd is not running"),
])
def test_without_isolation_or_the_forced_level_choose_says_what_to_enable(offer, says):
    with pytest.raises(SandboxUnavailable, match=says):
        doctor.choose(offer)


def test_an_unknown_forced_level_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(doctor.FORCE_VAR, "v3")
    with pytest.raises(UsageError, match="v1, v2, none"):
        doctor.survey()


def test_doctor_names_the_level_and_the_command_for_each_missing_piece():
    text = doctor.report(replace(USER, systemd_user="systemd is not running"))
    assert "grade would use: bwrap-rootless+rlimits" in text
    assert "sudo" in text and "loginctl enable-linger" in text
    broken = doctor.report(replace(FULL, bwrap=None, userns="bubblewrap is not installed"))
    assert "no sandbox" in broken and "apt-get install bubblewrap" in broken
    assert "not verified on a real v2 host" in doctor.report(NO_V1)


@pytest.mark.sandbox
def test_doctor_on_this_machine_reports_v1_and_exits_0(data_file):
    proc = subprocess.run([sys.executable, "-m", "grader", "doctor"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "GRADER_CGROUPS": ""})
    assert proc.returncode == 0, proc.stderr
    assert "grade would use: bwrap+cgroup-v1" in proc.stdout and "systemd is not running" in proc.stdout


@pytest.fixture
def fake_v2(tmp_path):
    """A delegated v2 group as cgroupfs shows it: the grader's pid in it, no controller enabled."""
    root = tmp_path / "cgroup"
    base = root / "grader.slice"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu memory pids\n")
    (base / "cgroup.subtree_control").write_text("\n")
    (base / "cgroup.procs").write_text(f"{os.getpid()}\n")
    proc_self = tmp_path / "proc-self-cgroup"
    proc_self.write_text("0::/grader.slice\n")
    return root, base, proc_self


def test_v2_finds_its_own_group_and_accepts_it_only_with_memory_and_pids(fake_v2):
    root, base, proc_self = fake_v2
    assert cgroups_v2.own_cgroup(root, proc_self) == base
    assert cgroups_v2.missing(base) is None
    (base / "cgroup.controllers").write_text("cpu memory\n")
    assert "pids" in cgroups_v2.missing(base)
    assert "no cgroup v2" in cgroups_v2.missing(None)


def test_v2_moves_the_grader_into_a_leaf_before_enabling_controllers(fake_v2):
    _, base, _ = fake_v2
    cgroups_v2.prepare(base)
    leaf = base / f"grader-{os.getpid()}-self"
    assert (leaf / "cgroup.procs").read_text() == str(os.getpid())
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"


def test_a_v2_group_gets_its_limits_and_reads_the_kernels_events(fake_v2):
    _, base, _ = fake_v2
    group = cgroups_v2.Group.create(base, "1234", 512 * 1024**2, 64, cpus=1.5)
    files = {name: (group.path / name).read_text() for name in
             ("memory.max", "memory.swap.max", "pids.max", "cpu.max")}
    assert files == {"memory.max": str(512 * 1024**2), "memory.swap.max": "0", "pids.max": "64",
                     "cpu.max": "150000 100000"}
    assert group.procs_files() == [str(group.path / "cgroup.procs")]
    assert not group.memory_exceeded() and not group.pids_exceeded()
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    (group.path / "pids.events").write_text("max 3\n")
    (group.path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    assert group.memory_exceeded() and group.pids_exceeded() and group.cpu_seconds() == 2.5


def test_a_v2_group_is_ended_through_cgroup_kill(fake_v2):
    _, base, _ = fake_v2
    group = cgroups_v2.Group.create(base, "99", 256 * 1024**2, 16)
    (group.path / "cgroup.procs").write_text("4242\n")  # a process the fake kernel never kills
    assert group.kill(timeout=0.2) is False
    assert (group.path / "cgroup.kill").read_text() == "1"
    (group.path / "cgroup.procs").write_text("")  # the real kernel empties the group
    assert group.kill(timeout=0.2) is True


def test_v2_groups_of_graders_that_no_longer_run_are_removed(fake_v2):
    _, base, _ = fake_v2
    dead = _exited_pid()
    stale, live = base / f"grader-{dead}-77", base / f"grader-{os.getpid()}-78"
    stale.mkdir(), live.mkdir()
    cgroups_v2.remove_stale(base)
    assert not stale.exists() and live.exists()


def _exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
