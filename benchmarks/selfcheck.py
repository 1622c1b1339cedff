"""Benchmark: the in-notebook self-check, from a model that exists to the verdict shown.

    .venv/bin/python benchmarks/selfcheck.py [--runs 20]

For each sample submission, its cells up to the training cell run in this process (Keras
imported once, the data file from $GRADER_DATA copied beside them), then ``check()`` with its
HTML (what Jupyter shows under the cell) is timed: the first call in the process (the spec, the
extraction code and the templates are loaded then) and the median of ``--runs`` later calls.
Also: ``import grader.notebook`` in a fresh interpreter. Goal: under 1 s after the model
exists. Checked here, never by timed assertions in the tests.
"""
from __future__ import annotations

import argparse
import contextlib
import io
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
sys.path.insert(0, str(ROOT))


def model_code(path: Path) -> str:
    """The notebook's code up to its training cell, magics left out."""
    import nbformat

    code = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        if ".fit(" in cell.source:
            break
        code.append("\n".join(line for line in cell.source.splitlines()
                              if not line.lstrip().startswith(("%", "!"))))
    return "\n".join(code)


def import_seconds() -> float:
    out = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                          "import grader.notebook; print(time.perf_counter() - t)"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"import grader.notebook (fresh interpreter): {import_seconds() * 1000:.0f} ms")
    work = Path(tempfile.mkdtemp(prefix="selfcheck-bench-"))
    shutil.copyfile(DATA, work / DATA.name)
    os.chdir(work)
    from grader.notebook import check

    first = None
    rows = []
    for path in sorted((ROOT / "submissions").glob("*.ipynb")):
        ns: dict = {}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # model.summary() and prints
                exec(model_code(path), ns)
        except Exception as exc:  # mallory_typo: the model cell raises, as in the notebook
            print(f"{path.stem:24s} (its model cell raises {type(exc).__name__}; checked as left)")
        times = []
        for _ in range(args.runs + (first is None)):
            t = time.perf_counter()
            sc = check(namespace=ns)
            sc._repr_html_()
            times.append(time.perf_counter() - t)
        if first is None:
            first = times.pop(0)
        rows.append((path.stem, statistics.median(times), max(times), sc.result.status.value))
    print(f"first check() + HTML in this process: {first * 1000:.1f} ms")
    print(f"{'sample':24s} {'median ms':>10s} {'max ms':>8s}  verdict")
    for name, median, worst, status in rows:
        print(f"{name:24s} {median * 1000:10.1f} {worst * 1000:8.1f}  {status}")
    overall = statistics.median(m for _, m, _, _ in rows)
    print(f"median over samples: {overall * 1000:.1f} ms (goal < 1000 ms)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
