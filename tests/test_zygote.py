"""Unsandboxed kernels forked from the kernel zygote (``grader.sandbox.zygote``): a forked kernel
sees what a kernel started as a child process sees (folder, path, environment, arguments,
signals, its own session and random numbers), a zygote that cannot start or has died costs
nothing but the time it would have saved, and no zygote outlives the grader."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from grader import pipeline
from grader.sandbox import zygote, zygotes
from grader.sandbox.launch import Launcher, minimal_env
from grader.settings import Settings

from tests.conftest import SINCE, still_running
from tests.notebooks import code_notebook

#: a cell that reports what its kernel sees; raising carries the report out in the traceback
OBSERVE = r"""
import collections, gc, json, os, random, re, signal, sys, time
import numpy as np
with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
    parent = f.read().decode(errors='replace')
with open('beside_the_notebook.py', 'w') as f:
    f.write('VALUE = 7')
import beside_the_notebook
import tensorflow as tf
import keras, matplotlib
def home(path):
    return path.replace(os.environ['HOME'], 'HOME')
def kind(target):
    return re.sub(r'\d+', 'N', home(target.replace(os.getcwd(), 'CWD')))  # inodes differ
def open_now():
    found = collections.Counter()
    for fd in os.listdir('/proc/self/fd'):
        try:
            found[kind(os.readlink(f'/proc/self/fd/{fd}'))] += 1
        except OSError:  # closed meanwhile
            pass
    return found
def steady_fds():  # open in three looks 0.2 s apart: not what a background thread holds a moment
    seen = open_now()
    for _ in range(2):
        time.sleep(0.2)
        seen &= open_now()
    return sorted(seen.elements())
raise RuntimeError('OBS' + json.dumps({
    'forked': 'grader-zygote-' in parent,
    'frozen': gc.get_freeze_count(),
    'collecting': gc.isenabled(),  # paused only while TensorFlow and Keras were imported
    'path': [p.replace(os.getcwd(), 'CWD') for p in sys.path],
    'beside': beside_the_notebook.VALUE,
    'env': sorted(os.environ),
    'own_home': os.environ['HOME'].split('/')[-1].startswith('grader-home-'),
    'argv': [a if not a.endswith('.json') else 'CONNECTION' for a in sys.argv[1:]],
    'flags': list(sys.flags),
    'sigchld_default': signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
    'session_leader': os.getsid(0) == os.getpid(),
    'tf': int(tf.constant(2) + 3),
    'random': [random.random(), float(np.random.rand())],
    'folders': [home(keras.src.backend.config.keras_home()), home(matplotlib.get_configdir()),
                home(matplotlib.get_cachedir()), os.path.isfile(os.path.join(
                    keras.src.backend.config.keras_home(), 'keras.json'))],
    'fds': steady_fds(),
}))
"""


def _observe(launcher: Launcher, tmp_path: Path, data_file: Path, spec) -> dict:
    path = tmp_path / "observe.ipynb"
    path.write_text(json.dumps(code_notebook(OBSERVE)))
    settings = Settings(sandbox="off", verify=False, notebook_timeout=120, cell_timeout=60,
                        startup_timeout=300, data_path=data_file)
    result = pipeline.check_notebook(path, spec, data_file, settings, launcher)
    match = re.search(r"^RuntimeError: OBS(\{.*\})$", result.error.traceback, re.M)
    assert match, result.error.traceback[-2000:]
    return json.loads(match.group(1))


@pytest.mark.kernel
def test_a_forked_kernel_sees_what_a_child_process_kernel_sees(tmp_path, data_file, spec):
    forked = [_observe(Launcher(), tmp_path, data_file, spec) for _ in range(2)]
    child = _observe(Launcher(fork=False), tmp_path, data_file, spec)
    assert [seen.pop("forked") for seen in forked] == [True, True] and child.pop("forked") is False
    # the zygote's imports are out of the garbage collector's reach: a forked kernel's
    # collections neither walk them nor copy their pages
    assert all(seen.pop("frozen") > 100_000 for seen in forked) and child.pop("frozen") == 0
    assert forked[0]["random"] != forked[1]["random"]  # not the zygote's numbers in each one
    for seen in forked:
        seen.pop("random")
    child.pop("random")
    for seen in forked:  # the files, sockets and pipes a kernel holds, whichever way it started
        assert seen.pop("fds") == child["fds"], (seen, child)
    child.pop("fds")
    assert forked[0] == forked[1] == child
    assert "" in child["path"] and child["beside"] == 7 and child["own_home"]
    assert child["folders"][0] == "HOME/.keras" and child["folders"][3] is True
    assert all(folder.startswith("HOME/") for folder in child["folders"][1:3])
    assert child["sigchld_default"] and child["session_leader"] and child["tf"] == 5
    assert child["collecting"]


@pytest.mark.kernel
def test_a_zygote_that_cannot_start_leaves_kernels_to_start_as_children(
        fresh_zygotes, tmp_path, data_file, spec, monkeypatch):
    broken = tmp_path / "broken_server.py"
    broken.write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(zygote, "SERVER", broken)
    assert _observe(Launcher(), tmp_path, data_file, spec)["forked"] is False
    assert len(zygotes._failed) == 1 and not zygotes._zygotes  # not tried for every kernel


@pytest.mark.kernel
def test_a_zygote_that_died_is_replaced_by_the_next_kernel(fresh_zygotes, tmp_path, data_file,
                                                           spec):
    assert _observe(Launcher(), tmp_path, data_file, spec)["forked"] is True
    (first,) = zygotes._zygotes.values()
    assert first.process is not None
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    assert _observe(Launcher(), tmp_path, data_file, spec)["forked"] is True
    (second,) = zygotes._zygotes.values()
    assert second is not first and second.process is not None
    assert second.process.poll() is None


@pytest.mark.kernel
def test_a_kernel_that_kills_its_supervisor_dies_and_is_reported_dead(tmp_path, data_file,
                                                                      spec, fast_settings):
    pid_file = tmp_path / "kernel.pid"
    path = tmp_path / "parricide.ipynb"
    path.write_text(json.dumps(code_notebook(
        # Keras named: the kernel is forked (``grader.execute.needs``), its parent a supervisor
        f"import os, signal, keras\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "assert 'grader-zygote-' in open(f'/proc/{os.getppid()}/cmdline').read()\n"
        "os.kill(os.getppid(), signal.SIGKILL)", "import time\ntime.sleep(120)")))
    result = pipeline.check_notebook(path, spec, data_file, fast_settings, Launcher())
    assert (result.status.value, result.error.kind) == ("error", "kernel_died")
    kernel = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while zygote.running(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not zygote.running(kernel)


@pytest.mark.kernel
def test_a_kernel_that_ends_at_once_gives_its_exit_code_and_the_zygote_serves_on(tmp_path):
    env = minimal_env(Settings(), str(tmp_path))
    found = zygotes.zygote_for(env)
    assert found is not None
    null = os.open(os.devnull, os.O_RDWR)
    try:  # no such folder: the kernel exits before it starts, its pid and exit in one read
        kernel = found.fork(["-f", str(tmp_path / "c.json")], env, str(tmp_path / "missing"),
                            [null, null, null])
    finally:
        os.close(null)
    assert kernel is not None and kernel.wait(timeout=60) == 1 and kernel.poll() == 1
    assert zygotes.zygote_for(env) is found and found.process.poll() is None


START = SINCE + """
import os, sys
from jupyter_client.connect import write_connection_file
from grader.sandbox import zygotes
from grader.sandbox.launch import minimal_env
from grader.settings import Settings
env = minimal_env(Settings(), os.getcwd())
z = zygotes.zygote_for(env)
connection, _ = write_connection_file('connection.json')
null = os.open(os.devnull, os.O_RDWR)
kernel = z.fork(['-f', connection], env, os.getcwd(), [null, null, null])
print(z.process.pid, z.folder, kernel.pid, since(z.process.pid), since(kernel.pid), flush=True)
if sys.argv[1] == 'killed':
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.kernel
@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_neither_the_zygote_nor_its_kernels_outlive_the_grader(tmp_path, ending):
    done = subprocess.run([sys.executable, "-c", START, ending], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    pid, folder, kernel, pid_since, kernel_since = done.stdout.split()
    deadline = time.monotonic() + 30
    # the zygote by its pid too: while it exits (TensorFlow's memory unmapped, slow on a busy
    # machine) its command line reads empty, so ``_forked_by`` no longer finds it
    while (still_running(int(pid), pid_since) or still_running(int(kernel), kernel_since)
           or _forked_by(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not still_running(int(pid), pid_since), f"the zygote {pid} outlived a grader that {ending}"
    assert not still_running(int(kernel), kernel_since), \
        f"the kernel {kernel} outlived a grader that {ending}"
    assert not _forked_by(folder), "a supervisor outlived the grader"
    assert not Path(folder).exists()


def _forked_by(folder: str) -> list[psutil.Process]:
    """The zygote and its supervisors (forked, not started: the zygote's command line)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and \
                any(folder in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_the_zygote_is_chosen_by_the_kernel_environment_without_its_own_folders():
    a = minimal_env(Settings(), "/home/one")
    b = minimal_env(Settings(), "/home/two")
    c = minimal_env(Settings(tf_threads=1), "/home/one")
    assert zygotes._key(a) == zygotes._key(b) != zygotes._key(c)


def test_the_folders_of_zygotes_that_are_gone_are_removed_and_no_other(tmp_path):
    def folder(name: str, pid: int | None, age: float = 0) -> Path:
        made = tmp_path / f"{zygote.PREFIX}{name}"
        made.mkdir()
        if pid is not None:
            (made / zygote.PID_FILE).write_text(str(pid))
        os.utime(made, (time.time() - age, time.time() - age))
        return made
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone, running = folder("gone", dead.pid), folder("running", os.getpid())
    starting, stale = folder("starting", None), folder("stale", None, zygote.START_TIMEOUT + 60)
    other = tmp_path / "grader-home-x"
    other.mkdir()
    zygote.remove_stale(str(tmp_path))
    assert not gone.exists() and not stale.exists()
    assert running.exists() and starting.exists() and other.exists()


#: a cell that records, for the batch test, who the zygotes' parents are and who its own
#: grandparent is (its supervisor's parent: the zygote it was forked from)
ZYGOTE_PARENTS = r"""
import json, os
def stat(pid):
    with open(f'/proc/{pid}/stat') as f:
        return f.read().rsplit(')', 1)[1].split()
parents = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = f.read().split(b'\0')
    except OSError:
        continue
    if len(argv) > 1 and argv[-2].endswith(b'/fork.sock') and stat(pid)[0] != 'Z':
        parents.append(int(stat(pid)[1]))
with open(RECORD, 'a') as f:
    f.write(json.dumps({'zygote_parents': parents, 'worker': int(os.environ['JPY_PARENT_PID']),
                        'grandparent': int(stat(os.getppid())[1])}) + '\n')
"""


@pytest.mark.kernel
def test_a_batchs_workers_fork_from_the_coordinators_zygotes(tmp_path, fast_settings):
    """Kernels and verification workers of a batch (one worker, two notebooks: the second
    runs after the first's cross-check started a verification worker) come from zygotes of
    the coordinator; no worker starts one of its own."""
    from grader.batch.folder import grade_folder

    from tests.notebooks import SOLUTION, model_only_notebook, write
    record = tmp_path / "record.jsonl"
    for name in ("first", "second"):
        notebook = model_only_notebook(SOLUTION)
        notebook.cells.append(code_notebook(ZYGOTE_PARENTS.replace("RECORD", repr(str(record))))
                              .cells[0])
        write(notebook, tmp_path / "course" / f"{name}.ipynb")
    grade_folder(tmp_path / "course", tmp_path / "out", settings=fast_settings, workers=1)
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    ours = zygotes.pids()
    assert len(seen) == 2 and all(s["grandparent"] in ours for s in seen), (seen, ours)
    assert len({s["worker"] for s in seen}) == 1 and os.getpid() in seen[0]["zygote_parents"]
    assert not any(s["worker"] in s["zygote_parents"] for s in seen), seen  # none of its own
    results = [json.loads(p.read_text()) for p in (tmp_path / "out" / "students").glob("*.json")]
    assert [r["status"] for r in results] == ["passed", "passed"]
    assert all(r["crosscheck"]["matched"] for r in results), [r["crosscheck"] for r in results]


def test_a_shared_zygote_is_used_only_from_a_closed_folder_of_this_users(tmp_path):
    def folder(name: str, mode: int, socket: bool = True) -> str:
        made = tmp_path / name
        made.mkdir(mode=mode)
        os.chmod(made, mode)
        if socket:
            (made / zygote.SOCKET).touch()
        return str(made)
    assert zygote.SharedZygote(("x",), folder("closed", 0o700)).started() is True
    assert zygote.SharedZygote(("x",), folder("open", 0o755)).started() is False
    assert zygote.SharedZygote(("x",), str(tmp_path / "missing")).started() is False
    (tmp_path / "link").symlink_to(folder("target", 0o700))
    assert zygote.SharedZygote(("x",), str(tmp_path / "link")).started() is False


def test_zygotes_set_aside_are_given_back_and_those_started_meanwhile_stopped(tmp_path):
    """``set_aside`` (the ``fresh_zygotes`` fixture): the block sees none of the earlier zygotes,
    and they are back after it, but for what the block started or adopted."""
    env = {"PATH": "/usr/bin"}
    command = ("python", "-c", "pass")
    earlier = zygotes.Shared(command, tuple(env.items()), str(tmp_path / "earlier"))
    meanwhile = zygotes.Shared(("python", "-c", "1"), tuple(env.items()), str(tmp_path / "other"))
    with zygotes.set_aside():  # none of this test's zygotes outlives it; an earlier test's stay
        with zygotes.set_aside():
            zygotes.adopt([earlier])
        assert not zygotes.adopted(env, command)  # what the block adopted went with it
        zygotes.adopt([earlier])
        with zygotes.set_aside():
            assert not zygotes.adopted(env, command)
            zygotes.adopt([meanwhile])
            assert zygotes.adopted(env, meanwhile.command)
        assert zygotes.adopted(env, command) and not zygotes.adopted(env, meanwhile.command)
