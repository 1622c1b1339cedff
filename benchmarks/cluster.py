"""Benchmark: a batch on the local worker pool against the same batch on a Dask cluster (issue 15).

    .venv/bin/python benchmarks/cluster.py [--runs 3] [--batch 16] [--workers 2] [--tasks 2000]

1. ``grader grade --workers W`` vs ``grader grade --cluster ADDRESS --workers W`` on a
   ``distributed.LocalCluster`` of the same size (W worker processes, one ``GRADING`` slot each,
   the cores shared out the same way), alternated, median of ``--runs``: the overhead ratio
   (goal <= 1.10);
2. the scheduler's throughput for one-slot tasks (``--tasks`` no-op tasks through the same
   resource), and the bytes moved per submission (notebook in, result out; the exercise and the
   memo layers move once per worker: ``grader.batch.memo_layers``);
3. from those, an estimate for 10,000 notebooks on N machines.
Never run by the tests; its figures go in the README ("Grading on a cluster").
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")
sys.path.insert(0, str(ROOT))  # the cluster's worker processes import this checkout's grader


def grade(folder: Path, extra: list[str]) -> tuple[float, Path]:
    out = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out),
                    "--force", *extra], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "GRADER_DATA": str(DATA)})
    return time.monotonic() - start, out


def course(folder: Path, size: int) -> None:
    samples = sorted((ROOT / "submissions").glob("*.ipynb"))
    for i, nb in enumerate(itertools.islice(itertools.cycle(samples), size)):
        shutil.copy(nb, folder / f"s{i:02d}_{nb.name}")


def throughput(client, tasks: int) -> float:
    """One-slot no-op tasks per second through the scheduler (what it adds per submission)."""
    from grader.batch.cluster.dask_worker import GRADING, constant

    start = time.monotonic()
    futures = client.map(constant, range(tasks), resources={GRADING: 1}, pure=False)
    client.gather(futures)
    return tasks / (time.monotonic() - start)


def moved(folder: Path, out: Path) -> dict:
    """Bytes per submission in (the notebook) and out (the result JSON), and once per worker."""
    from grader.batch.cluster.dask_executor import exercise_files
    from grader.exercise.spec import Spec, default_reference_dir

    notebooks = [p.stat().st_size for p in folder.glob("*.ipynb")]
    results = [p.stat().st_size for p in (out / "students").glob("*.json")]
    exercise = exercise_files(Spec.load(default_reference_dir()))
    return {"in": statistics.mean(notebooks), "out": statistics.mean(results),
            "per_worker": sum(len(b) for b in exercise["files"].values())}


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=args.workers, threads_per_worker=max(1, cores // args.workers),
                         processes=True, resources={"GRADING": 1}, dashboard_address=None) as lc, \
            Client(lc, timeout=60) as client:
        folder = Path(tmp)
        course(folder, args.batch)
        local, cluster, out = [], [], None
        for _ in range(args.runs):  # alternated: the machine's load hits both alike
            seconds, result = grade(folder, ["--workers", str(args.workers)])
            local.append(seconds)
            shutil.rmtree(result)
            if out is not None:
                shutil.rmtree(out)
            seconds, out = grade(folder, ["--workers", str(args.workers), "--cluster",
                                          lc.scheduler_address])
            cluster.append(seconds)
        lo, cl = statistics.median(local), statistics.median(cluster)
        print(f"batch{args.batch}: local pool median {lo:.1f} s (runs {_fmt(local)}); "
              f"cluster median {cl:.1f} s (runs {_fmt(cluster)}); "
              f"ratio {cl / lo:.2f} (goal <= 1.10)")
        rate = throughput(client, args.tasks)
        sizes = moved(folder, out)
        shutil.rmtree(out)
    per_slot = cl * args.workers / args.batch  # seconds of one grading slot per submission
    print(f"scheduler: {rate:.0f} one-slot tasks/s; moved per submission: "
          f"{sizes['in'] / 1024:.1f} KiB in, {sizes['out'] / 1024:.1f} KiB out; "
          f"once per worker: {sizes['per_worker'] / 1024:.1f} KiB (exercise) + the memo layers")
    for machines in (1, 10, 50):
        slots = machines * 8  # e.g. 16 cores / 32 GiB machines: 8 slots of 2 cores, 2 GiB each
        minutes = 10_000 * per_slot / slots / 60
        mib = 10_000 * (sizes["in"] + sizes["out"]) / 1024**2
        print(f"10,000 notebooks on {machines} machine(s) of 8 slots: ~{minutes:.0f} min of "
              f"grading, {10_000 / rate:.0f} s of scheduling, {mib:.0f} MiB moved")
    print(json.dumps({"local": local, "cluster": cluster, "rate": rate, **sizes}))


if __name__ == "__main__":
    main()
