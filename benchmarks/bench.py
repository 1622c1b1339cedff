"""Benchmark: the grader against plainly executing the same notebooks (issues 7 and 29).

    .venv/bin/python benchmarks/bench.py [--runs 3] [--batch 16] [--skip-single] [--skip-batch]

Side by side in one run, median of ``--runs`` runs each (interleaved, so that a drift in the
machine's load hits every variant alike), printing ratios against the goals:
1. one submission (the solution): ``jupyter execute`` vs ``grader check --report`` *cold* (an
   empty verification memo: the architecture is trained now) vs *warm* (the memo holds it, as
   after ``grader calibrate`` or an earlier check);
2. a batch of ``--batch`` submissions (the samples, cycled): plain executions one after another
   vs ``grader grade`` with its default workers, *cold* (an empty memo) and then *warm* (the
   same course again with the memo that run filled: a regrade, or a course after calibration
   and an earlier batch);
3. peak memory (RSS and PSS, sampled over the process tree, in runs of its own: sampling slows
   a training) of the grader and of each worker's
   tree (the worker, its kernel and its verifier); a worker's verifier (and at ``--sandbox off``
   its kernel) is forked from the coordinator's zygotes, so the figure that counts is what lies
   below the grader process shared out among its workers.
Every run gets a memo folder of its own (``--memo``): the user's cache is never read or written.
Speed goals are checked here, never by timed assertions in the tests.
"""
from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")
GiB = 1024**3


def run(cmd: list[str], cwd: Path | None = None) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=cwd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "GRADER_DATA": str(DATA)})
    return time.monotonic() - start


def plain(notebooks: list[Path]) -> float:
    """What other graders do: execute each notebook as it is, next to the data."""
    total = 0.0
    for notebook in notebooks:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(notebook, tmp)
            shutil.copy(DATA, tmp)
            total += run([str(BIN / "jupyter-execute"), notebook.name], cwd=Path(tmp))
    return total


class Sampler(threading.Thread):
    """Peak memory of a process tree: the root alone, each worker's subtree, and the sum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak = {"grader": 0, "worker": 0, "per_worker": 0, "total_rss": 0, "total_pss": 0}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.sample(psutil.Process(self.pid))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def sample(self, root: psutil.Process) -> None:
        children = root.children()
        memory = {p.pid: _mem(p) for p in [root, *root.children(recursive=True)]}
        self.peak["grader"] = max(self.peak["grader"], memory[root.pid][0])
        workers = [c for c in children if not _is_zygote(c)]
        for child in workers:
            subtree = [child.pid] + [c.pid for c in _safe_children(child)]
            self.peak["worker"] = max(self.peak["worker"], sum(memory.get(p, (0, 0))[1] for p in subtree))
        # what a worker costs with what it forks from the coordinator's zygotes (not under it):
        # everything but the grader process, shared out among the workers
        below = sum(m[1] for pid, m in memory.items() if pid != root.pid)
        self.peak["per_worker"] = max(self.peak["per_worker"], below / max(1, len(workers)))
        self.peak["total_rss"] = max(self.peak["total_rss"], sum(m[0] for m in memory.values()))
        self.peak["total_pss"] = max(self.peak["total_pss"], sum(m[1] for m in memory.values()))


def _mem(p: psutil.Process) -> tuple[int, int]:
    try:
        full = p.memory_full_info()
        return full.rss, getattr(full, "pss", full.rss)
    except psutil.Error:
        return 0, 0


def _is_zygote(p: psutil.Process) -> bool:
    """A zygote (``grader.sandbox.zygote``): its last argument is its socket's path."""
    try:
        return p.cmdline()[-1:] != [] and p.cmdline()[-1].endswith("/fork.sock")
    except psutil.Error:
        return False


def _safe_children(p: psutil.Process) -> list:
    try:
        return p.children(recursive=True)
    except psutil.Error:
        return []


def grader(cmd: list[str], sample: bool = False) -> tuple[float, dict]:
    """Seconds of ``cmd``; with ``sample``, also its peak memory. A sampled run is never timed:
    reading a TensorFlow process's memory map (``smaps``) five times a second slows its training
    (4.7 s -> 5.2-7.4 s for the solution, 2026-12-06), so the memory comes from runs of its own."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GRADER_DATA": str(DATA)})
    sampler = Sampler(proc.pid)
    if sample:
        sampler.start()
    proc.wait()
    seconds = time.monotonic() - start
    if sample:
        sampler.stop.set()
        sampler.join()
    return seconds, sampler.peak


GOALS = {"warm": 0.20, "cold": 0.30, "batch": 0.10, "worker_pss_gib": 1.2}


def check_once(solution: Path, memo: Path, sample: bool = False) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return grader([str(BIN / "grader"), "check", str(solution), "--memo", str(memo),
                       "--report", f"{tmp}/r.html", "--json", f"{tmp}/r.json"], sample)


def single(runs: int) -> None:
    solution = ROOT / "reference" / "cnn2" / "solution.ipynb"
    base, cold, warm = [], [], []
    for _ in range(runs):  # interleaved, so that load drifts hit all three alike
        base.append(plain([solution]))
        with tempfile.TemporaryDirectory() as memo:
            cold.append(check_once(solution, Path(memo))[0])  # an empty memo: trains now
            warm.append(check_once(solution, Path(memo))[0])  # the memo holds it
    with tempfile.TemporaryDirectory() as memo:  # the memory, in runs of its own
        peaks = [check_once(solution, Path(memo), sample=True)[1] for _ in range(2)]
    b, c, w = statistics.median(base), statistics.median(cold), statistics.median(warm)
    print(f"single  plain jupyter execute        median {b:6.1f} s  runs {_fmt(base)}")
    print(f"single  grader check --report, cold  median {c:6.1f} s  runs {_fmt(cold)}")
    print(f"single  grader check --report, warm  median {w:6.1f} s  runs {_fmt(warm)}")
    print(f"single  ratio cold/plain             {c / b:.2f}  (goal <= {GOALS['cold']:.2f})")
    print(f"single  ratio warm/plain             {w / b:.2f}  (goal <= {GOALS['warm']:.2f})")
    print(f"single  peak memory: grader tree {max(p['total_rss'] for p in peaks) / GiB:.2f} GiB RSS, "
          f"{max(p['total_pss'] for p in peaks) / GiB:.2f} GiB PSS", flush=True)


def batch(runs: int, size: int, with_plain: bool = True, workers: int | None = None) -> None:
    samples = sorted((ROOT / "submissions").glob("*.ipynb"))
    chosen = list(itertools.islice(itertools.cycle(samples), size))
    base, ours, warm = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for i, nb in enumerate(chosen):  # distinct students, some with the same notebook
            shutil.copy(nb, Path(folder) / f"s{i:02d}_{nb.name}")
        for _ in range(runs):
            if with_plain:
                base.append(plain(chosen))
            with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as memo:
                extra = ["--workers", str(workers)] if workers else []
                cmd = [str(BIN / "grader"), "grade", folder, "--out", out, "--force", "--memo",
                       memo, *extra]
                ours.append(grader(cmd)[0])  # cold: an empty memo, every architecture trained
                warm.append(grader(cmd)[0])  # warm: the same course again, the memo holds all
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as memo:
            extra = ["--workers", str(workers)] if workers else []
            cmd = [str(BIN / "grader"), "grade", folder, "--out", out, "--force", "--memo", memo,
                   *extra]
            peaks = [grader(cmd, sample=True)[1] for _ in range(2)]  # the memory: cold, warm
    o, ow = statistics.median(ours), statistics.median(warm)
    if with_plain:
        b = statistics.median(base)
        print(f"batch{size:<3d} plain, one after another median {b:6.1f} s  runs {_fmt(base)}")
    label = f"--workers {workers}" if workers else "(default)"
    print(f"batch{size:<3d} grader grade {label:<11} median {o:6.1f} s  runs {_fmt(ours)}  "
          f"= {o / size:.1f} s per submission (cold: an empty memo)")
    print(f"batch{size:<3d} grader grade, warm memo  median {ow:6.1f} s  runs {_fmt(warm)}  "
          f"= {ow / size:.1f} s per submission (every architecture already in the memo)")
    if with_plain:
        print(f"batch{size:<3d} ratio grader/plain, cold {o / b:.2f}  (goal <= {GOALS['batch']:.2f})")
        print(f"batch{size:<3d} ratio grader/plain, warm {ow / b:.2f}  (goal <= {GOALS['batch']:.2f})")
    print(f"batch{size:<3d} peak memory: grader process {max(p['grader'] for p in peaks) / GiB:.2f} GiB RSS; "
          f"worker tree {max(p['worker'] for p in peaks) / GiB:.2f} GiB PSS, "
          f"{max(p['per_worker'] for p in peaks) / GiB:.2f} GiB PSS with its share of the zygotes "
          f"and what it forked from them (goal <= {GOALS['worker_pss_gib']}); "
          f"whole batch {max(p['total_rss'] for p in peaks) / GiB:.2f} GiB RSS, "
          f"{max(p['total_pss'] for p in peaks) / GiB:.2f} GiB PSS")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="*", default=[16])
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--workers", type=int, help="batch: pass --workers N to grader grade")
    parser.add_argument("--grader-only", action="store_true",
                        help="batch: time only the grader (scaling with the batch size)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / GiB:.0f} GiB; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if not args.skip_single:
        single(args.runs)
    if not args.skip_batch:
        for size in args.batch:
            batch(args.runs, size, with_plain=not args.grader_only, workers=args.workers)


if __name__ == "__main__":
    main()
