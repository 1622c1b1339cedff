"""Peak memory of ``grader check``'s own processes while a notebook floods its output.

    .venv/bin/python benchmarks/flood_memory.py [--sandbox required] [--interval 0.02] [--batch]

Each row runs ``grader check NB --no-verify`` in a fresh process on a notebook that prints
one way (a tiny notebook as the baseline, an 800 MB ``display`` of text, one 300 MB
``write``, a loop of prints) and samples, every ``--interval`` seconds, the resident memory
(RSS) of the grader's process tree **without** the sandboxed kernel (the subtree started by
``grader/sandbox/exec.py``, or the ``ipykernel_launcher`` one with ``--sandbox off``), which is
bounded by the sandbox's own memory limit. The bound to hold (issue 23): every peak <= 300 MiB.
The status, kind and exit code of each run are printed too.

``--batch``: ``grader grade`` with 2 workers, on 4 baseline notebooks, then on 4 copies of
each flood; prints the largest process's peak (a worker: the bound is its idle size + 64 MiB
per kernel) and the tree's peak.
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
    return sum(grader_processes(root).values())


def grader_processes(root: psutil.Process) -> dict[int, int]:
    """pid -> RSS of ``root`` and its descendants, leaving out each kernel's subtree."""
    found, stack = {}, [root]
    while stack:
        proc = stack.pop()
        try:
            if proc is not root and any(m in " ".join(proc.cmdline()) for m in KERNEL_MARKS):
                continue
            found[proc.pid] = proc.memory_info().rss
            stack.extend(proc.children())
        except psutil.Error:
            continue
    return found


def measure_batch(source: str, sandbox: str, interval: float, folder: Path,
                  copies: int = 4) -> tuple[int, int, dict]:
    """(largest process's peak, whole tree's peak, exit code) of ``grader grade``."""
    submissions = folder / "submissions"
    submissions.mkdir()
    for i in range(copies):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        nbformat.write(nb, str(submissions / f"student{i}.ipynb"))
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(submissions),
                             "--no-verify", "--sandbox", sandbox, "--workers", "2",
                             "--out", str(folder / "out"), "--timeout", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, largest, tree = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        sizes = grader_processes(root)
        largest, tree = max([largest, *sizes.values()]), max(tree, sum(sizes.values()))
        time.sleep(interval)
    kinds = {}
    for path in (folder / "out" / "students").glob("*.json"):
        result = json.loads(path.read_text())
        key = f"{result.get('status')}/{(result.get('error') or {}).get('kind')}"
        kinds[key] = kinds.get(key, 0) + 1
    return largest, tree, kinds


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
    parser.add_argument("--batch", action="store_true", help="grader grade, 2 workers")
    args = parser.parse_args()
    os.environ.setdefault("GRADER_DATA", str(ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz"))
    if args.batch:
        print(f"{'4 notebooks of':32} {'worker MiB':>10} {'tree MiB':>9}  results")
        for name, source in FLOODS.items():
            with tempfile.TemporaryDirectory() as folder:
                largest, tree, kinds = measure_batch(source, args.sandbox, args.interval,
                                                     Path(folder))
            print(f"{name:32} {largest / MIB:10.0f} {tree / MIB:9.0f}  {kinds}", flush=True)
        return
    print(f"{'notebook':32} {'peak MiB':>9}  status/kind (exit)")
    for name, source in FLOODS.items():
        with tempfile.TemporaryDirectory() as folder:
            peak, result = measure(source, args.sandbox, args.interval, Path(folder))
        error = result.get("error") or {}
        print(f"{name:32} {peak / MIB:9.0f}  {result.get('status')}/{error.get('kind')} "
              f"({result.get('exit_code')})", flush=True)


if __name__ == "__main__":
    main()
