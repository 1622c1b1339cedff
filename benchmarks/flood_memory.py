"""Peak memory of ``grader check``'s own processes while a notebook floods its output.

    .venv/bin/python benchmarks/flood_memory.py [--sandbox required] [--interval 0.02]

Each row runs ``grader check NB --no-verify`` in a fresh process on a notebook that prints
one way (a tiny notebook as the baseline, an 800 MB ``display`` of text, one 300 MB
``write``, a loop of prints) and samples, every ``--interval`` seconds, the resident memory
(RSS) of the grader's process tree **without** the sandboxed kernel (the subtree started by
``grader/sandbox/exec.py``, or the ``ipykernel_launcher`` one with ``--sandbox off``), which is
bounded by the sandbox's own memory limit. The bound to hold (issue 23): every peak <= 300 MiB.
The status, kind and exit code of each run are printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
FLOODS = {
    "baseline (x = 1)": "x = 1",
    "display of 800 MB of text": "display({'text/plain': 'y' * 800_000_000}, raw=True)",
    "one 300 MB sys.stdout.write": "import sys\nsys.stdout.write('x' * 300_000_000)",
    "print loop (10 kB lines)": "while True:\n    print('x' * 10_000)",
    "display loop (4 MB each)": "while True:\n    display({'text/plain': 'z' * 4_000_000}, raw=True)",
}
KERNEL_MARKS = ("grader/sandbox/exec.py", "ipykernel_launcher")


def grader_rss(root: psutil.Process) -> int:
    """RSS of ``root`` and its descendants, leaving out each kernel's subtree."""
    total, stack = 0, [root]
    while stack:
        proc = stack.pop()
        try:
            if proc is not root and any(m in " ".join(proc.cmdline()) for m in KERNEL_MARKS):
                continue
            total += proc.memory_info().rss
            stack.extend(proc.children())
        except psutil.Error:
            continue
    return total


def measure(source: str, sandbox: str, interval: float, folder: Path) -> tuple[int, dict]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    path = folder / "flood.ipynb"
    nbformat.write(nb, str(path))
    out = folder / "result.json"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "check", str(path), "--no-verify",
                             "--sandbox", sandbox, "--json", str(out), "--timeout", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, grader_rss(root))
        time.sleep(interval)
    result = json.loads(out.read_text()) if out.exists() else {}
    return peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="required", choices=("required", "off"))
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    os.environ.setdefault("GRADER_DATA", str(ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz"))
    print(f"{'notebook':32} {'peak MiB':>9}  status/kind (exit)")
    for name, source in FLOODS.items():
        with tempfile.TemporaryDirectory() as folder:
            peak, result = measure(source, args.sandbox, args.interval, Path(folder))
        error = result.get("error") or {}
        print(f"{name:32} {peak / MIB:9.0f}  {result.get('status')}/{error.get('kind')} "
              f"({result.get('exit_code')})", flush=True)


if __name__ == "__main__":
    main()
