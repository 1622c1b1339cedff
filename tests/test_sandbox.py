"""The sandbox against the adversarial corpus (``tests/adversarial``), at the weakest root level:
no cgroups (``GRADER_CGROUPS=none``: per-process rlimits, a fresh uid, the polled guard), where
containers and Gradescope images are. The stronger levels get a smoke subset
(``tests/test_sandbox_levels.py``).

Every hostile notebook runs ONLY through ``SandboxLauncher.create()``: on a machine without a
working sandbox these tests fail instead of running a fork bomb with the tester's rights. Each
run is checked for its status and message, then: nothing of the sandbox left running, nothing
outside the working dir changed, and no secret (a world-readable file outside the sandbox, an
environment variable of the grader) in the result.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grader import api, pipeline
from grader.errors import ErrorKind
from grader.exceptions import SandboxUnavailable
from grader.result import Status, of_the_code
from grader.sandbox import cgroups, seccomp
from grader.sandbox import launcher as sandbox
from grader.sandbox.launcher import SandboxLauncher

from tests import adversarial as adv
from tests.conftest import ROOT
from tests.notebooks import MISTAKES, SOLUTION, code_notebook, model_only_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.sandbox]

SECRET_VAR = "GRADER_TEST_SECRET"
SMALL_MEMORY = adv.SMALL_MEMORY
QUICK = {"notebook_timeout": 20, "cell_timeout": 5, "startup_timeout": 120, "verify": False}
KERAS = {"notebook_timeout": 60, "cell_timeout": 45, "startup_timeout": 120, "verify": False}


LEVEL_NAMES = {"none": "bwrap+rlimits", "v1": "bwrap+cgroup-v1"}


@pytest.fixture(scope="module")
def launcher(request) -> SandboxLauncher:
    """At the no-cgroup level unless a test asks for another (``indirect`` parametrization)."""
    forced = getattr(request, "param", "none")
    made = SandboxLauncher.create(forced=forced)  # raises (fails the tests) where there is no sandbox
    assert made.name == LEVEL_NAMES[forced] and made.level.cgroups == forced
    return made


@pytest.fixture(scope="module")
def host():
    """Secrets and a world-writable folder outside the sandbox; the values to fill in."""
    folder = Path(tempfile.mkdtemp(prefix="grader-secrets-"))
    folder.chmod(0o777)
    secret_file, file_secret = folder / "secret.txt", f"FILE-SECRET-{secrets.token_hex(8)}"
    secret_file.write_text(file_secret)
    secret_file.chmod(0o644)
    env_secret = f"ENV-SECRET-{secrets.token_hex(8)}"
    os.environ[SECRET_VAR] = env_secret
    values = {"@SECRET_FILE@": str(secret_file), "@SECRET_DIR@": str(folder), "@REPO@": str(ROOT),
              "@VENV@": sys.prefix, "@PY@": os.path.realpath(sys.base_prefix),
              "@TOKEN@": secrets.token_hex(6)}
    yield {"values": values, "secrets": (file_secret, env_secret), "file": secret_file}
    del os.environ[SECRET_VAR]
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


@pytest.fixture
def hostile(launcher, host, spec, data_file, tmp_path):
    """hostile(cells or notebook, **settings) -> Result, after checking the run left no trace
    (``parallel=True``: the caller checks, once every run has ended)."""
    def run(cells, parallel=False, **overrides):
        nb = cells if isinstance(cells, nbformat.NotebookNode) else code_notebook(*cells)
        path = tmp_path / f"hostile-{secrets.token_hex(4)}.ipynb"
        nbformat.write(nb, str(path))
        text = path.read_text()
        for key, value in host["values"].items():
            text = text.replace(key, value)
        path.write_text(text)
        settings = api.Settings(**{**QUICK, **overrides}, data_path=data_file)
        seen = len(launcher.sessions)
        result = pipeline.check_notebook(path, spec, data_file, settings, launcher, verifier=None)
        assert result.sandbox == launcher.name
        if not parallel:
            assert_nothing_left(launcher.sessions[seen:])
        assert_host_unchanged(host)
        assert_no_secret(json.dumps(result.to_dict()), host["secrets"])
        return result
    return run


def assert_nothing_left(sessions) -> None:
    """No live process of the session's uid, no cgroup, no tmpfs mount."""
    assert sessions, "the notebook did not run in the sandbox"
    deadline = time.monotonic() + 5
    while (left := adv.live_processes({s.uid for s in sessions})) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"sandbox processes still running: {left}"
    for s in sessions:
        assert not s.cgroup or not any((cgroups.ROOT / c / s.cgroup).exists() for c in ("memory", "pids"))
        assert f"uid={s.uid}," not in Path("/proc/self/mountinfo").read_text()


def assert_host_unchanged(host) -> None:
    assert host["file"].read_text() == host["secrets"][0]
    for target in adv.WRITE_TARGETS:
        path = target
        for key, value in host["values"].items():
            path = path.replace(key, value)
        assert not os.path.lexists(path), f"the notebook wrote {path}"
    assert not os.path.exists("/tmp/lambda-ran")


def assert_no_secret(text: str, secret_values) -> None:
    for secret in secret_values:
        assert secret not in text


def observations(result) -> dict:
    """What the notebook reported by raising RuntimeError('OBS' + json)."""
    match = re.search(r"^RuntimeError: OBS(\{.*\})$", result.error.traceback, re.M)
    assert match, result.error.traceback[-2000:]
    return json.loads(match.group(1))


@pytest.mark.parametrize("case", adv.CASES, ids=lambda c: c.name)
def test_a_hostile_notebook_gets_its_status_and_leaves_nothing_behind(hostile, case):
    result = hostile(case.cells, **case.settings)
    assert (result.status.value, result.error.kind) == (case.status, case.kind), result.error
    assert result.error.message and result.error.advice
    assert result.score == 0 and int(result.exit_code) in (3, 4)


SMOKE = [c for c in adv.CASES if c.name in ("fork_bomb", "memory_bomb_in_child_processes",
                                            "setsid_daemon", "fill_the_disk")]


@pytest.mark.parametrize("launcher", ["v1"], indirect=True)
@pytest.mark.parametrize("case", SMOKE, ids=lambda c: c.name)
def test_at_the_cgroup_v1_level_a_smoke_subset_gets_the_same_statuses(hostile, launcher, case):
    result = hostile(case.cells, **case.settings)
    assert result.sandbox == "bwrap+cgroup-v1"
    assert (result.status.value, result.error.kind) == (case.status, case.kind), result.error


#: what spins at the process limit, whatever makes the tasks: stopped within seconds
BOMBS = {
    "fork": adv.FORK_BOMB,
    "threads": """\
import threading, time
while True:
    try:
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    except RuntimeError:
        pass""",
    "subprocess": """\
import subprocess
while True:
    try:
        subprocess.Popen(['sleep', '600'])
    except OSError:
        pass""",
}
#: what meets the limit and lives with it: runs to its end (its children end by themselves)
NEAR_MISSES = {
    "refused_once_and_handled": """\
import os, time
children = []
try:
    for _ in range(64):
        pid = os.fork()
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children.append(pid)
except OSError:
    refused = True
for pid in children:
    os.waitpid(pid, 0)
time.sleep(2)
assert refused""",
    "retries_after_a_pause": """\
import os, time
children, refused = [], 0
deadline = time.monotonic() + 4
while time.monotonic() < deadline:
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        time.sleep(0.05)
        continue
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
assert refused > 20""",
}


@pytest.mark.parametrize("launcher", ["v1"], indirect=True)
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_is_stopped_at_its_process_limit_long_before_the_cell_time_limit(hostile, launcher,
                                                                                bomb):
    """Its tasks refused at every poll for a second: stopped then (``grader.execute.pinned``),
    not after minutes of every core."""
    start = time.monotonic()
    result = hostile((BOMBS[bomb],), kernel_max_pids=32, cell_timeout=300, notebook_timeout=400)
    assert (result.status.value, result.error.kind) == ("timeout", "process_limit"), result.error
    assert time.monotonic() - start < 150, "the bomb ran on towards the cell's time limit"


@pytest.mark.parametrize("launcher", ["v1"], indirect=True)
@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_a_notebook_that_meets_its_process_limit_and_lives_with_it_runs_to_its_end(hostile,
                                                                                   launcher, case):
    result = hostile((NEAR_MISSES[case],), kernel_max_pids=32, cell_timeout=60,
                     notebook_timeout=90)
    assert result.error.kind == "no_model", result.error  # it ran to its end: no model in it
    assert any("more than 32 processes" in w for w in result.warnings), result.warnings


LIMITS_AT_V1 = [
    # overcommit refuses an allocation larger than the machine: no cgroup ever sees it
    ("hog = b'x' * 1024**4", {}, "memory_limit",
     "your notebook tried to allocate more memory than it may use; the grading machine allows "
     "512 MB (all its processes together), so the allocation was refused"),
    ("import numpy as np\nhog = np.ones(10**12)", {}, "memory_limit",
     "your notebook tried to allocate 7.28 TiB; the grading machine allows 512 MB (all its "
     "processes together), so the allocation was refused"),
    ("with open('big.bin', 'wb') as f:\n    f.write(b'x' * 8 * 1024**2)",
     {"kernel_max_file_bytes": 4 * 1024**2}, "file_size_limit",
     "your notebook tried to write a file larger than the grading machine allows (4 MB per file)"),
    ("with open('/tmp/fill.bin', 'wb') as f:\n    for _ in range(40):\n"
     "        f.write(b'x' * 1024**2)", {"kernel_disk_bytes": 16 * 1024**2}, "disk_limit",
     "the notebook filled the sandbox's /tmp (limit 16 MB)"),
    ("display({'text/plain': 'y' * 8_000_000}, raw=True)", {"output_limit_bytes": 1_000_000},
     "output_limit", "the notebook sent one output larger than the output limit of 1,000,000 "
     "bytes (it was refused unread); the kernel was stopped"),
]


@pytest.mark.parametrize("launcher", ["v1"], indirect=True)
@pytest.mark.parametrize("source, settings, kind, message", LIMITS_AT_V1,
                         ids=["allocation_over_the_machine", "numpy_allocation", "file_size",
                              "full_tmp", "one_huge_output"])
def test_at_the_cgroup_level_each_limit_is_named_with_its_value(hostile, launcher, source,
                                                                settings, kind, message):
    result = hostile(["x = 1", source], **{**SMALL_MEMORY, **settings})
    assert (result.status, result.error.kind, int(result.exit_code)) == (
        Status.TIMEOUT, kind, 4), result.error
    assert result.error.message == message and result.error.cell_index == 2
    assert result.error.advice and ErrorKind(kind).info.limit


@pytest.mark.parametrize("launcher", ["none", "v1"], indirect=True)
def test_the_provided_data_cannot_be_replaced_and_a_later_cell_still_loads_it(hostile, launcher,
                                                                              data_file):
    before = data_file.read_bytes()
    obs = observations(hostile([adv.OVERWRITE_DATA]))
    assert obs.pop("loaded") == [4000, 4000]
    assert obs.pop("wget") not in (0, "FileNotFoundError")  # wget ran, and failed to write
    assert obs and all(v in ("OSError", "PermissionError") for v in obs.values()), obs
    assert data_file.read_bytes() == before


def test_the_kernel_has_no_network_but_its_own_loopback(hostile):
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cell = adv.NETWORK.replace("@URL@", f"http://127.0.0.1:{server.server_address[1]}/")
        obs = observations(hostile([cell]))
    finally:
        server.shutdown()
    assert obs["interfaces"] == ["lo"] and obs["loopback"] == "listening"
    assert obs["http"] == "URLError" and requests == []
    assert obs["vsock"] == "OSError" and obs["packet"] == "OSError"


def test_the_kernel_sees_no_secret_solution_submission_or_grader_environment(hostile, host):
    obs = observations(hostile([adv.SNOOP]))
    for path, seen in obs.items():
        if path not in ("environ", "listing", "/etc/hostname", "/proc/1/environ", "parent environ"):
            assert seen in ("FileNotFoundError", "PermissionError"), path
    assert obs["/proc/1/environ"] == obs["parent environ"] == ""
    assert SECRET_VAR not in obs["environ"] and obs["environ"]["HOME"] == "/tmp/home"
    repo, tmp, root = (obs["listing"][d] for d in (str(ROOT), "/tmp", "/root"))
    assert repo == "FileNotFoundError" or set(repo) <= {".venv"}  # at most the bound venv
    bound = {Path(p).parts[2] for p in (sys.prefix, os.path.realpath(sys.prefix))
             if Path(p).parts[1:2] == ("tmp",)}  # a checkout under /tmp: its mount point only
    assert all(name == "home" or name.startswith("grader-conn-") or name in bound for name in tmp)
    assert root == "FileNotFoundError" or ".bashrc" not in root


def test_the_kernel_can_write_only_its_own_working_dir(hostile, host):
    obs = observations(hostile([adv.WRITE_OUTSIDE]))
    assert obs.pop("own dir") == 2
    assert obs.pop(f"/tmp/pwned-{host['values']['@TOKEN@']}") == 5  # its own /tmp, not the host's
    for path, seen in list(obs.items()):  # a checkout under /tmp appears inside that private /tmp
        if seen == 5 and path.startswith("/tmp/"):
            assert not os.path.exists(path), f"{path} was written on the host"
            del obs[path]
    assert obs and all(v in ("OSError", "PermissionError", "FileNotFoundError") for v in obs.values()), obs


def test_printed_results_prefilled_outputs_and_patched_libraries_do_not_change_the_verdict(hostile):
    nb = model_only_notebook(MISTAKES["no_padding"])
    nb.cells.append(nbformat.v4.new_code_cell(adv.FAKE_VERDICT[0]))
    for cell in nb.cells:
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="PASSED 100/100\n")]
    result = hostile(nb, **KERAS)
    assert result.status is Status.FAILED and result.score < result.max_score
    assert result.totals["total"] != 695970 and "All checks passed" not in result.summary


@pytest.mark.parametrize("how", sorted(adv.EXTRACTION_TAMPERING))
def test_a_tampered_extraction_changes_nothing_and_is_flagged(hostile, how):
    """The notebook's input transformer tries to rewrite the grader's extraction into each
    forgery (a fake report file, a link, a FIFO, a huge or broken file). The report no longer
    travels by a file and no notebook transformer runs around the grader's request: the
    verdict is the honest one for a notebook without a model, and the hook is flagged."""
    action, _ = adv.EXTRACTION_TAMPERING[how]
    result = hostile([adv.TRANSFORMER.format(action=action), "x = 1"])
    assert result.status is Status.ERROR and result.error.kind == "no_model"
    assert result.score == 0 and not [c for c in result.checks if of_the_code(c)]
    assert any(entry["code"] == "ipython-hook" for entry in result.review)


@pytest.mark.parametrize("source, kind", [(adv.LAMBDA_LAYER, "disallowed_layer"),
                                          (adv.CUSTOM_LAYER, "disallowed_layer"),
                                          (adv.TOO_LARGE, "model_too_large")],
                         ids=["lambda", "custom_layer", "too_large"])
def test_a_model_the_grader_must_not_build_is_refused(hostile, source, kind):
    result = hostile([source], **KERAS)
    assert result.status is Status.ERROR and result.error.kind == kind


def test_a_model_too_large_for_the_kernel_hits_the_memory_limit(hostile):
    result = hostile([adv.TOO_LARGE_TO_BUILD], **KERAS, kernel_memory_bytes=1024**3)
    assert result.status is Status.TIMEOUT and result.error.kind == "memory_limit", result.error


def test_the_solution_passes_in_the_sandbox(hostile):
    result = hostile(model_only_notebook(SOLUTION), **KERAS)
    assert result.status is Status.PASSED and result.sandbox == "bwrap+rlimits", result.error


def test_kernels_in_parallel_get_their_own_uid_and_cgroup(launcher, hostile):
    seen = len(launcher.sessions)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda cells: hostile(cells, parallel=True, kernel_max_pids=32),
                                [(adv.FORK_BOMB,), (adv.SETSID_DAEMON,)]))
    assert [r.error.kind for r in results] == ["process_limit", "no_model"]
    sessions = launcher.sessions[seen:]
    assert len({s.uid for s in sessions}) == 2
    assert_nothing_left(sessions)


def test_required_gives_the_strongest_sandbox_here():
    assert api.make_launcher("required").name == "bwrap+cgroup-v1"


def test_the_seccomp_filter_is_a_whole_bpf_program():
    program = seccomp.program()
    assert seccomp.supported() and len(program) % 8 == 0 and 8 < len(program) // 8 < 256


def test_no_secret_reaches_any_file_or_log_the_cli_writes(host, data_file, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    text = nbformat.writes(code_notebook(adv.SNOOP))
    for key, value in host["values"].items():
        text = text.replace(key, value)
    (folder / "snoop.ipynb").write_text(text)
    out = tmp_path / "out"
    env = {**os.environ, "GRADER_DATA": str(data_file)}
    runs = [[sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out),
             "--sandbox", "required", "--no-verify", "--timeout", "30", "--junit", str(out / "junit.xml")],
            [sys.executable, "-m", "grader", "check", str(folder / "snoop.ipynb"), "--sandbox",
             "required", "--no-verify", "--json", str(out / "check.json"),
             "--report", str(out / "check.html"), "--junit", str(out / "check.xml")]]
    logs = [subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120) for argv in runs]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 4 and all(log.returncode in (0, 3) for log in logs), [run.stderr for run in logs]
    for text in [p.read_text(errors="replace") for p in written] + [run.stdout + run.stderr for run in logs]:
        assert_no_secret(text, host["secrets"])


def test_a_temp_dir_too_long_for_a_socket_still_gives_every_kernel_its_channels(data_file, tmp_path):
    """A TMPDIR too long for a Unix socket's path (and a batch nests its folders in it): the
    kernels' and zygotes' sockets go to a short folder, and the notebook is graded (it was a
    grader fault: ZeroMQ's "File name too long")."""
    base = Path(tempfile.mkdtemp(prefix="grader-longtmp-"))
    try:
        long = base / ("d" * 60) / ("e" * 40)
        long.mkdir(parents=True)
        for folder in (base, long.parent, long):
            folder.chmod(0o711)  # as a temp dir must be for the sandbox's uid
        subs, out = tmp_path / "subs", tmp_path / "out"
        subs.mkdir()
        for name in ("ann", "ben"):  # two: the batch's workers, each in its nested temp dir
            nbformat.write(model_only_notebook(SOLUTION), str(subs / f"{name}.ipynb"))
        run = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out),
                              "--sandbox", "required", "--no-verify", "--timeout", "90"],
                             env={**os.environ, "GRADER_DATA": str(data_file), "TMPDIR": str(long)},
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        for name in ("ann", "ben"):
            assert json.loads((out / "students" / f"{name}.json").read_text())["status"] == "passed"
        assert not [p.name for p in long.iterdir()], "the batch left folders in its temp dir"
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


STALE = """\
import sys, tempfile, time
from pathlib import Path
from grader.sandbox.launcher import SandboxLauncher
from grader.settings import Settings
launcher = SandboxLauncher.create()
workdir = Path(tempfile.mkdtemp(prefix="grader-run-"))
with launcher.session(workdir, Settings()):
    print(workdir, launcher.sessions[0].uid, launcher.sessions[0].cgroup, flush=True)
    time.sleep(60)
"""


def test_what_a_killed_grader_leaves_is_cleaned_up_by_the_next(launcher):
    proc = subprocess.Popen([sys.executable, "-c", STALE], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    workdir, uid, group = proc.stdout.readline().split()
    proc.kill()
    proc.wait()
    assert f"uid={uid}," in Path("/proc/self/mountinfo").read_text()
    # its session folder (plan, filter, passwd) and the kernel's socket dir that folder names
    [private] = Path(tempfile.gettempdir()).glob(f"grader-sbx-{proc.pid}-*")
    conn = Path((private / "conn").read_text())
    assert conn.is_dir() and conn.name.startswith("grader-conn-")
    sandbox.remove_stale()
    assert f"uid={uid}," not in Path("/proc/self/mountinfo").read_text()
    assert not os.path.exists(workdir) and not (cgroups.ROOT / "memory" / group).exists()
    assert not private.exists() and not conn.exists()


@pytest.mark.parametrize("patch, reason", [
    (("shutil.which", lambda name: None), "apt-get install bubblewrap"),
    (("sys.platform", "darwin"), "darwin"),
])
def test_without_a_sandbox_create_says_why(monkeypatch, patch, reason):
    monkeypatch.setattr(*patch)
    with pytest.raises(SandboxUnavailable, match=reason):
        SandboxLauncher.create()
