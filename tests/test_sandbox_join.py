"""Sandboxed kernels forked from the zygote into a sandbox bubblewrap built (``grader.sandbox.join``):
at the cgroup v1 level, a notebook that names Keras gets such a kernel. It must be confined as a
fresh sandboxed kernel is, the hostile corpus must get the same statuses in it, and a kernel that
cannot be confined must never run a cell (a fresh one runs instead).

The same fixtures as ``tests/test_sandbox.py`` (every notebook through ``SandboxLauncher``).
"""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from grader import api
from grader.sandbox import join as joining
from grader.sandbox import launcher as sandbox
from grader.sandbox.provisioner import signal_live
from grader.settings import Settings

from tests import adversarial as adv
from tests.test_sandbox import KERAS as KERAS_TIME  # the limits for a cell that imports Keras
from tests.test_sandbox import SECRET_VAR, host, hostile, launcher, observations  # noqa: F401

pytestmark = [pytest.mark.kernel, pytest.mark.sandbox]
V1 = pytest.mark.parametrize("launcher", ["v1"], indirect=True)

#: reports what the kernel sees (naming no module: a notebook that names Keras is forked)
PROBE = adv.OBSERVE + """\
import ctypes, os, re, signal, sys, time
def fd_targets():
    out = set()
    for fd in os.listdir('/proc/self/fd'):
        target = observe(lambda: os.readlink('/proc/self/fd/' + fd))
        if not target.startswith(('socket:', 'anon_inode:', 'pipe:', 'OSError', 'FileNotFound')):
            out.add(re.sub(r'#\\d+', '#N', target))
    return sorted(out)
status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
libc = ctypes.CDLL(None, use_errno=True)
obs = {'forked': open('/proc/self/cmdline').read().split(chr(0))[1] == '-c',
       'status': {k: status[k].split() for k in ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm',
                                                  'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')},
       'root': sorted(os.listdir('/')), 'cwd': os.getcwd(), 'host': os.uname().nodename,
       'ppid': os.getppid(), 'cgroup': open('/proc/self/cgroup').read(),
       'new_userns': [libc.unshare(0x10000000), ctypes.get_errno()],
       'usr': observe(lambda: open('/usr/x', 'w')), 'fds': fd_targets(),
       'kill_parent': observe(lambda: os.kill(os.getppid(), 0)),
       'procs': sorted(p for p in os.listdir('/proc') if p.isdigit()),
       # what /proc shows of the other processes is the sandbox's (mounts, sockets, groups)
       'others': sorted({observe(lambda: open(f'/proc/{p}/{f}').read()) for p in ('1', '2')
                         for f in ('mountinfo', 'net/unix', 'net/tcp', 'cgroup')}),
       'own': [observe(lambda: open(f'/proc/self/{f}').read()) for f in ('mountinfo', 'net/unix', 'net/tcp', 'cgroup')],
       'environ': observe(lambda: len(open('/proc/self/environ').read()) > 0),
       'kjson': os.path.exists(os.path.expanduser('~/.ker' 'as/ker' 'as.json')),  # unnamed
       'interrupt_pid_1': observe(lambda: os.kill(1, signal.SIGINT))}
time.sleep(0.5)  # a pid 1 that took the interrupt would be gone by now, and the sandbox with it
obs['pid_1_lives'] = os.path.exists('/proc/1/status')
raise RuntimeError('OBS' + json.dumps(obs))
"""
KERAS = "import keras"


def confined(obs: dict, uid: int) -> None:
    """What every sandboxed kernel must be."""
    status = obs["status"]
    assert status["Uid"] == status["Gid"] == [str(uid)] * 4 and status["Groups"] == []
    assert all(status[k] == ["0" * 16] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"))
    assert status["NoNewPrivs"] == ["1"] and status["Seccomp"] == ["2"]
    assert obs["host"] == "sandbox" and obs["cwd"] == "/home/student"
    assert obs["new_userns"][0] == -1 and obs["usr"] == "OSError"
    assert obs["ppid"] != 0 and obs["kill_parent"] in (None, "PermissionError")


@V1
def test_a_notebook_naming_keras_gets_a_forked_kernel_confined_as_a_fresh_one(hostile, launcher):  # noqa: F811
    fresh = observations(hostile([PROBE]))
    fresh_uid = launcher.sessions[-1].uid
    forked = observations(hostile([KERAS, PROBE]))
    forked_uid = launcher.sessions[-1].uid
    assert (fresh["forked"], forked["forked"]) == (False, True)
    confined(fresh, fresh_uid)
    confined(forked, forked_uid)
    for key in ("root", "cgroup", "fds", "environ", "pid_1_lives"):
        assert forked[key] == fresh[key], key  # the same filesystem, groups, files, rights
    # Keras's folder as its own import makes it (the fresh kernel here imported no Keras)
    assert forked["environ"] is True and forked["pid_1_lives"] is True and forked["kjson"] is True
    for seen in (fresh, forked):  # only the sandbox's mounts, sockets and groups, by any pid
        assert set(seen["others"]) <= set(seen["own"]) | {"PermissionError"}, seen["others"]
    # the sandbox's first process, the kernel's parent (not one it may signal), the kernel
    assert len(forked["procs"]) == 3 and forked["kill_parent"] == "PermissionError"


@V1
@pytest.mark.parametrize("case", adv.CASES, ids=lambda c: c.name)
def test_in_a_forked_kernel_each_hostile_notebook_gets_its_status(hostile, launcher, case):  # noqa: F811
    result = hostile((KERAS, *case.cells), **case.settings)
    assert result.sandbox == "bwrap+cgroup-v1"
    assert (result.status.value, result.error.kind) == (case.status, case.kind), result.error


@V1
def test_a_forked_kernel_sees_no_secret_and_writes_nowhere_but_its_own_dir(hostile, launcher, host):  # noqa: F811
    snoop = observations(hostile([KERAS, adv.SNOOP]))
    for path, seen in snoop.items():
        if path not in ("environ", "listing", "/etc/hostname", "/proc/1/environ", "parent environ"):
            assert seen in ("FileNotFoundError", "PermissionError"), path
    assert SECRET_VAR not in snoop["environ"] and snoop["environ"]["HOME"] == "/tmp/home"
    assert snoop["parent environ"] == "PermissionError"  # a root process, not the kernel's
    assert SECRET_VAR not in snoop["/proc/1/environ"]
    written = observations(hostile([KERAS, adv.WRITE_OUTSIDE]))
    assert written.pop("own dir") == 2
    assert all(v in ("OSError", "PermissionError", "FileNotFoundError") or
               (v == 5 and path.startswith("/tmp/")) for path, v in written.items()), written


@V1
def test_a_kernel_that_cannot_be_confined_runs_no_cell_and_a_fresh_one_runs(
        hostile, launcher, monkeypatch):  # noqa: F811
    made = sandbox.provisioner_for

    def unloadable(plan):  # one instruction and no return: the kernel refuses to load it
        return made(replace(plan, seccomp=b"\x00" * 8))

    monkeypatch.setattr(sandbox, "provisioner_for", unloadable)
    obs = observations(hostile([KERAS, PROBE], **KERAS_TIME))  # a fresh kernel imports Keras
    assert obs["forked"] is False  # the fresh kernel the holder started
    confined(obs, launcher.sessions[-1].uid)


def test_the_confinement_check_refuses_an_unconfined_process():
    code = ("import sys; exec(open(sys.argv[1]).read())\n"
            "try:\n    check_confined(0, True)\nexcept OSError as exc:\n    print('refused', exc)")
    out = subprocess.run([sys.executable, "-c", code, joining.__file__.replace("join.py", "join_server.py")],
                         capture_output=True, text=True, timeout=30)
    assert re.search(r"^refused not confined: Cap", out.stdout, re.M), out


@V1
def test_a_batch_starts_the_sandboxed_kernels_zygote_ahead_where_they_join(launcher):  # noqa: F811
    from grader.batch.local.worker_process import zygotes_wanted
    settings = Settings(sandbox="auto")
    wanted = [env for env, command in zygotes_wanted(settings, 1) if command is None]
    assert launcher.joins and wanted == [sandbox.kernel_env(settings)]
    assert json.dumps(sandbox.kernel_env(settings)).count(SECRET_VAR) == 0
    assert api.make_launcher("auto").name == "bwrap+cgroup-v1"


def test_a_kernel_that_has_ended_is_never_signalled():
    """Its supervisor reaped it: its pid, and its process group, may be another's by now."""
    sent = []

    async def send(signum):
        sent.append(signum)

    for code, signum in ((0, 9), (None, 2), (-9, 15)):
        process = SimpleNamespace(poll=lambda code=code: code)
        asyncio.run(signal_live(SimpleNamespace(process=process), signum, send))
    assert sent == [2]
