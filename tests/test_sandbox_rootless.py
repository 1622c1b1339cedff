"""The rootless level for real: the grader run by an unprivileged user (``grader-test``), as on
an instructor's laptop. ``bash .ci/setup test`` creates that user and gives it a Python it can
reach, ``.venv/rootless`` (the system's python3 with this checkout's packages; this machine's
own Python may live under a private home such as pyenv's /root, which nothing loosens); these
tests fail, saying so, where the user is missing, and skip with the reason where no reachable
interpreter exists. Here the user has no cgroup, so the level is ``bwrap-rootless+rlimits``.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.adversarial import live_processes
from tests.conftest import ROOT, session_folder

pytestmark = [pytest.mark.kernel, pytest.mark.sandbox]

TEST_USER = "grader-test"
#: the interpreter the test user runs: .ci/setup's venv of the system's python3, else ours
ROOTLESS_PYTHON = ROOT / ".venv" / "rootless" / "bin" / "python"
PYTHON = str(ROOTLESS_PYTHON) if ROOTLESS_PYTHON.exists() else sys.executable
#: what the interpreter reads, printed as the test user (each must be reachable without any
#: home folder of another user having been made traversable)
PATHS = "import json, os, sys; print(json.dumps([os.path.realpath(sys.executable), *sys.path]))"
LEVEL = "bwrap-rootless+rlimits"

#: run as the test user: hostile notebooks through the library, with small limits
HOSTILE = """\
import json, sys
from pathlib import Path
import nbformat
from grader import pipeline
from grader.sandbox.launcher import SandboxLauncher
from grader.settings import Settings
from grader.exercise.spec import Spec
from tests import adversarial as adv
from tests.notebooks import code_notebook

data, folder = Path(sys.argv[1]), Path(sys.argv[2])
launcher = SandboxLauncher.create()
quick = dict(notebook_timeout=20, cell_timeout=5, startup_timeout=120, verify=False, data_path=data)
cases = {c.name: c for c in adv.CASES}
runs = {name: (cases[name].cells, cases[name].settings) for name in
        ("fork_bomb", "memory_bomb_in_child_processes", "fill_the_disk", "setsid_daemon")}
runs["data"] = ((adv.OVERWRITE_DATA,), {})
runs["home"] = ((adv.OBSERVE + f"obs = {{p: observe(lambda: open(p).read()) for p in {sys.argv[3:]!r}}}\\n"
                 "raise RuntimeError('OBS' + json.dumps(obs))",), {})
out = {}
for name, (cells, overrides) in runs.items():
    path = folder / f"{name}.ipynb"
    nbformat.write(code_notebook(*cells), str(path))
    result = pipeline.check_notebook(path, Spec.load(Path("reference/cnn2")), data,
                                     Settings(**{**quick, **overrides}), launcher, verifier=None)
    out[name] = {"status": result.status.value, "kind": result.error.kind if result.error else None,
                 "sandbox": result.sandbox, "traceback": result.error.traceback if result.error else ""}
print(json.dumps(out))
"""


@pytest.fixture(autouse=True)
def one_test_of_this_user_at_a_time(tmp_path_factory):
    """The tests below assert that no process of ``grader-test`` is left, so two of them must
    never run at once: an exclusive lock in the folder all pytest-xdist workers share, whatever
    the scheduling (``--dist loadfile`` keeps them on one worker; ``--dist load`` would not)."""
    import fcntl

    with open(session_folder(tmp_path_factory, "locks") / "grader-test-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def user():
    if os.geteuid() != 0:
        pytest.skip("switching to the test user needs root (the suite runs as that user instead)")
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.fail(f"no user {TEST_USER}: run `bash .ci/setup test` first")
    try:
        probe = as_user(entry, [PYTHON, "-c", "import grader, nbclient; " + PATHS], timeout=120)
        why = probe.stderr.strip().splitlines()[-1][:200] if probe.returncode else None
    except OSError as exc:  # cannot even enter the checkout
        why = str(exc)
    if why:
        pytest.skip(f"{TEST_USER} cannot run {PYTHON} in {ROOT} ({why}): run `bash .ci/setup "
                    "test` (it builds .venv/rootless from the system's python3), or clone where "
                    "others may traverse")
    private = [p for p in json.loads(probe.stdout.splitlines()[-1]) if in_private_home(p, entry)]
    assert not private, (f"{TEST_USER} reaches {private} only because root's home was made "
                         "traversable: run `bash .ci/setup test` for .venv/rootless, and keep "
                         "the checkout out of root's home")
    return entry


def in_private_home(path: str, user) -> bool:
    """Under root's home (private: 0700 unless someone loosened it, as an earlier set-up did for
    pyenv's Python): the test must not rely on reaching anything there."""
    home = pwd.getpwuid(0).pw_dir.rstrip("/")
    return bool(home) and (path == home or path.startswith(home + "/"))


@pytest.fixture
def shared(user):
    """A folder the test user owns (pytest's tmp_path is root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-rootless-"))
    os.chown(folder, user.pw_uid, user.pw_gid)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_user(user, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "LANG": "C.UTF-8",
           "PYTHONPATH": str(ROOT), "TMPDIR": "/tmp", "GRADER_CGROUPS": ""}
    return subprocess.run(argv, user=user.pw_uid, group=user.pw_gid, extra_groups=[], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def assert_no_process_left(user) -> None:
    deadline = time.monotonic() + 5
    while (left := live_processes({user.pw_uid})) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of {TEST_USER} still running: {left}"


def test_doctor_as_a_user_offers_the_rootless_level(user):
    proc = as_user(user, [PYTHON, "-m", "grader", "doctor"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"grade would use: {LEVEL}" in proc.stdout and f"no (uid {user.pw_uid})" in proc.stdout
    assert "sudo" in proc.stdout  # how to get a fresh uid per kernel


def test_a_user_grades_the_samples_sandboxed_and_the_summary_names_the_level(user, shared, data_file):
    subs, out = shared / "subs", shared / "out"
    subs.mkdir()
    for name in ("alice_solution", "bob_no_padding"):
        shutil.copy(ROOT / "submissions" / f"{name}.ipynb", subs)
    os.chown(subs, user.pw_uid, user.pw_gid)
    proc = as_user(user, [PYTHON, "-m", "grader", "grade", str(subs), "--out", str(out),
                          "--no-verify", "--data", str(data_file), "--workers", "1"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"grader: sandbox {LEVEL}:" in proc.stdout and f"sandbox {LEVEL}; results" in proc.stdout
    results = {p.stem: json.loads(p.read_text()) for p in (out / "students").glob("*.json") if p.stem in
               ("alice_solution", "bob_no_padding")}
    assert {k: (r["status"], r["sandbox"]) for k, r in results.items()} == {
        "alice_solution": ("passed", LEVEL), "bob_no_padding": ("failed", LEVEL)}
    assert_no_process_left(user)


def test_a_users_hostile_notebooks_hit_their_limits_and_see_none_of_the_users_files(user, shared,
                                                                                  data_file):
    secret = Path(user.pw_dir) / "secret.txt"
    secret.write_text("USER-SECRET")
    os.chown(secret, user.pw_uid, user.pw_gid)
    try:
        proc = as_user(user, [PYTHON, "-c", HOSTILE, str(data_file), str(shared),
                              str(secret), str(ROOT / "reference" / "cnn2" / "spec.json")])
    finally:
        secret.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(proc.stdout.splitlines()[-1])
    assert {r["sandbox"] for r in runs.values()} == {LEVEL}
    assert {name: (r["status"], r["kind"]) for name, r in runs.items() if name in
            ("fork_bomb", "memory_bomb_in_child_processes", "fill_the_disk", "setsid_daemon")} == {
        "fork_bomb": ("timeout", "process_limit"),
        "memory_bomb_in_child_processes": ("timeout", "memory_limit"),
        "fill_the_disk": ("timeout", "disk_limit"), "setsid_daemon": ("error", "no_model")}
    data = _observed(runs["data"]["traceback"])
    assert data.pop("loaded") == [4000, 4000] and data.pop("wget") != 0
    assert all(v in ("OSError", "PermissionError") for v in data.values()), data
    assert set(_observed(runs["home"]["traceback"]).values()) == {"FileNotFoundError"}
    assert_no_process_left(user)


def _observed(traceback: str) -> dict:
    match = re.search(r"^RuntimeError: OBS(\{.*\})$", traceback, re.M)
    assert match, traceback[-2000:]
    return json.loads(match.group(1))
