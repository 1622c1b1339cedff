"""The adversarial corpus: hostile notebooks (as code cells) with the result each must get.

These run ONLY through the sandbox (``tests/test_sandbox.py``). Placeholders filled in by the
tests: ``@SECRET_FILE@`` (a world-readable file outside the sandbox), ``@SECRET_DIR@`` (its
world-writable folder), ``@REPO@``, ``@VENV@``, ``@PY@`` (the base interpreter's prefix),
``@URL@`` (an HTTP server the test runs on the host's 127.0.0.1), ``@TOKEN@`` (a per-run name).
Notebooks report what they observed by raising ``RuntimeError("OBS" + json)``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Case:
    name: str
    cells: tuple[str, ...]
    status: str
    kind: str
    #: Settings overrides that keep the case cheap (small limits)
    settings: dict = field(default_factory=dict)


SMALL_MEMORY = {"kernel_memory_bytes": 512 * 1024**2}

INFINITE_LOOP = "while True:\n    pass"

IGNORES_INTERRUPT = """\
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        time.sleep(0.05)
    except BaseException:  # KeyboardInterrupt included
        pass"""

FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass"""

MEMORY_ONE_ALLOCATION = "hog = b'x' * (1024**3)"

MEMORY_IN_CHILDREN = """\
import os, time
children = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        hog = b'x' * (150 * 1024**2)
        time.sleep(60)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)"""

OUTPUT_FLOOD = "while True:\n    print('x' * 10000)"

OS_EXIT = "import os\nos._exit(3)"

SEGFAULT = "import ctypes\nctypes.string_at(0)"

INPUT = "name = input('your name? ')"

KILL_PARENT = """\
import os, signal
for target in (os.getppid(), 1, -1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass"""

SETSID_DAEMON = """\
import os, subprocess, time
subprocess.Popen(['sleep', '1000'], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(1)
    os._exit(0)"""

FILL_DISK = """\
i = 0
while True:
    with open(f'fill{i}.bin', 'wb') as f:
        f.write(b'x' * 1024**2)
    i += 1"""

CASES = [
    Case("infinite_loop", (INFINITE_LOOP,), "timeout", "timeout"),
    Case("loop_ignoring_interrupts", (IGNORES_INTERRUPT,), "timeout", "timeout"),
    Case("fork_bomb", (FORK_BOMB,), "timeout", "process_limit", {"kernel_max_pids": 32}),
    Case("memory_bomb_one_allocation", (MEMORY_ONE_ALLOCATION,), "timeout", "memory_limit", SMALL_MEMORY),
    Case("memory_bomb_in_child_processes", (MEMORY_IN_CHILDREN,), "timeout", "memory_limit", SMALL_MEMORY),
    # the cell limit well above the time a flood takes to pass the budget on a loaded machine
    Case("output_flood", (OUTPUT_FLOOD,), "timeout", "output_limit",
         {"output_limit_bytes": 1_000_000, "cell_timeout": 15}),
    Case("os_exit", (OS_EXIT,), "error", "kernel_died"),
    Case("segfault", (SEGFAULT,), "error", "kernel_died"),
    Case("input", (INPUT,), "error", "cell_error"),
    Case("kill_the_kernels_parent", (KILL_PARENT, "survived = True"), "error", "no_model"),
    Case("setsid_daemon", (SETSID_DAEMON,), "error", "no_model"),
    Case("fill_the_disk", (FILL_DISK,), "timeout", "disk_limit", {"kernel_disk_bytes": 32 * 1024**2}),
]

OBSERVE = """\
import json
def observe(action):
    try:
        return action()
    except BaseException as exc:
        return type(exc).__name__
"""

NETWORK = OBSERVE + """\
import socket, urllib.request
obs = {'interfaces': [name for _, name in socket.if_nameindex()]}
obs['http'] = observe(lambda: urllib.request.urlopen('@URL@', timeout=3).status)
obs['vsock'] = observe(lambda: socket.socket(40, socket.SOCK_STREAM) and 'created')
obs['packet'] = observe(lambda: socket.socket(17, socket.SOCK_RAW) and 'created')
obs['loopback'] = observe(lambda: socket.create_server(('127.0.0.1', 0)) and 'listening')
raise RuntimeError('OBS' + json.dumps(obs))"""

SNOOP = OBSERVE + """\
import os
paths = ['@SECRET_FILE@', '@REPO@/reference/cnn2/solution.ipynb',
         '@REPO@/reference/cnn2/spec.json', '@REPO@/submissions/bob_no_padding.ipynb',
         '/root/.bashrc', '/etc/shadow', '/etc/hostname', '/proc/1/environ']
obs = {p: observe(lambda: open(p).read()) for p in paths}
obs['environ'] = dict(os.environ)
obs['parent environ'] = observe(lambda: open(f'/proc/{os.getppid()}/environ').read())
obs['listing'] = {d: observe(lambda: sorted(os.listdir(d))) for d in ['/', '/tmp', '@REPO@', '/root']}
raise RuntimeError('OBS' + json.dumps(obs))"""

#: the host paths the WRITE notebook tries (the test asserts none of them appears)
WRITE_TARGETS = ("@SECRET_DIR@/pwned-@TOKEN@", "/tmp/pwned-@TOKEN@", "@REPO@/pwned-@TOKEN@",
                 "@VENV@/pwned-@TOKEN@", "@PY@/pwned-@TOKEN@", "/usr/pwned-@TOKEN@",
                 "/etc/pwned-@TOKEN@", "/pwned-@TOKEN@", "/root/pwned-@TOKEN@",
                 "/dev/pwned-@TOKEN@")

WRITE_OUTSIDE = OBSERVE + f"""\
targets = {list(WRITE_TARGETS)!r}
obs = {{t: observe(lambda: open(t, 'w').write('owned')) for t in targets}}
obs['@SECRET_FILE@'] = observe(lambda: open('@SECRET_FILE@', 'a').write('owned'))
obs['own dir'] = observe(lambda: open('mine.txt', 'w').write('ok'))
raise RuntimeError('OBS' + json.dumps(obs))"""

#: installs an IPython input transformer that rewrites the grader's extraction cell into ACTION
TRANSFORMER = """\
import re
ACTION = {action!r}
def _rewrite(lines):
    match = re.search(r"__grader_extract\\((['\\"])(.+?)\\1", ''.join(lines))
    return [ACTION.format(path=match.group(2))] if match else lines
get_ipython().input_transformers_post.append(_rewrite)"""

#: what the rewritten extraction cell does, and the message the grader must answer with
EXTRACTION_TAMPERING = {
    "skipped": ("pass", "left no result"),
    "fake_report": ("import json; json.dump({{'ok': True, 'score': 100, 'status': 'passed', "
                    "'models': [{{'variable': 'model', 'class_name': 'Sequential', "
                    "'qualname': 'Sequential', 'module': 'keras.src.models.sequential', "
                    "'graph': 'sequential', 'input_shape': [None, 28, 28, 1], 'layers': []}}]}}, "
                    "open({path!r}, 'w'))", "has no layers"),
    "symlink": ("import os; os.symlink('/etc/passwd', {path!r})", "not a regular file"),
    "fifo": ("import os; os.mkfifo({path!r})", "not a small regular file"),
    "huge": ("import os; f = open({path!r}, 'w'); f.truncate(50_000_000); f.close()",
             "not a small regular file"),
    "not_json": ("open({path!r}, 'w').write('{{not json')", "not valid JSON"),
}

#: a wrong model (no padding) dressed up as the right one
FAKE_VERDICT = (
    "import numpy as np, keras\n"
    "keras.Model.count_params = lambda self: 695970\n"
    "keras.Model.summary = lambda self, *a, **k: print('Total params: 695,970')\n"
    "np.mean = lambda *a, **k: 1.0\n"
    "print('All checks passed: the four layers match the reference. Score 100/100')",
)

LAMBDA_LAYER = """\
import keras
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Lambda(lambda x: __import__('os').system('touch /tmp/lambda-ran') or x),
                          keras.layers.Dense(10)])"""

CUSTOM_LAYER = """\
import keras
class Shortcut(keras.layers.Layer):
    def call(self, x):
        return x
model = keras.Sequential([keras.Input((28, 28, 1)), Shortcut(), keras.layers.Flatten(),
                          keras.layers.Dense(10)])"""

#: too many parameters for the grader to build (it refuses from the report, unbuilt)
TOO_LARGE = """\
import keras
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(20000), keras.layers.Dense(10)])"""

#: too large for the kernel itself to build: hits the memory limit
TOO_LARGE_TO_BUILD = """\
import keras
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(1_000_000), keras.layers.Dense(10)])"""

#: tries to replace the provided data (the notebook must not change what a later cell, or the
#: grader's own copy, reads), then loads it as the course notebook does
OVERWRITE_DATA = OBSERVE + """\
import gzip, os, pickle, subprocess
DATA = 'mnist_4000.pkl.gz'
open('fake.bin', 'wb').write(b'not the data')
obs = {'write': observe(lambda: open(DATA, 'w').write('owned')),
       'append': observe(lambda: open(DATA, 'ab').write(b'owned')),
       'wget': observe(lambda: subprocess.run(['wget', '-q', '-O', DATA, 'http://127.0.0.1:9/'],
                                              capture_output=True).returncode),
       'remove': observe(lambda: os.remove(DATA)),
       'rename': observe(lambda: os.rename('fake.bin', DATA)),
       'chmod': observe(lambda: os.chmod(DATA, 0o666))}
with gzip.open(DATA, 'rb') as f:
    (X, y) = pickle.load(f, encoding='latin1')
obs['loaded'] = [len(X), len(y)]
raise RuntimeError('OBS' + json.dumps(obs))"""


def live_processes(uids: set[int]) -> list[str]:
    """Processes of these uids, zombies excepted (they hold nothing; init reaps them)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        if uid in uids and not re.search(r"^State:\s+Z", status, re.M):
            found.append(f"{pid} {re.search(r'^Name:(.*)', status, re.M).group(1).strip()}")
    return found
