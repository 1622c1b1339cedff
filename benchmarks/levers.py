"""Single-submission levers, measured one by one (median of ``--runs``, interleaved).

    .venv/bin/python benchmarks/levers.py [--runs 3]

Each row grades the solution with ``grader check`` in a fresh process, changing one setting
(the notebook's own training, the sandbox) so that the effect of each lever is visible; the
last rows time a passing and a failing sample with the defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")
SOLUTION = ROOT / "reference" / "cnn2" / "solution.ipynb"

#: name -> (notebook, Settings overrides, sandbox)
VARIANTS = {
    "notebook fit: full epoch (before)": (SOLUTION, {"notebook_epochs": 1, "notebook_steps": 0}, "auto"),
    "notebook fit: one batch": (SOLUTION, {"notebook_epochs": 1, "notebook_steps": 1}, "auto"),
    "notebook fit: skipped (default)": (SOLUTION, {}, "auto"),
    "default, --sandbox off": (SOLUTION, {}, "off"),
    "default, --sandbox required": (SOLUTION, {}, "required"),
    "default: failing sample (bob_no_padding)": (ROOT / "submissions" / "bob_no_padding.ipynb", {}, "auto"),
}

SCRIPT = """
import json, sys, time
start = time.monotonic()
from pathlib import Path
from grader import api
from grader.render.html import write_report
from grader.settings import Settings
notebook, overrides, sandbox, data, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
result = api.check(Path(notebook), settings=Settings(sandbox=sandbox, data_path=Path(data), **overrides))
write_report(result, Path(out))
print(json.dumps({"wall": time.monotonic() - start, "status": result.status.value, **result.timings}))
"""


def once(notebook: Path, overrides: dict, sandbox: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        out = subprocess.run([sys.executable, "-c", SCRIPT, str(notebook), json.dumps(overrides),
                              sandbox, str(DATA), f"{tmp}/r.html"], capture_output=True, text=True,
                             cwd=ROOT, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        row["process"] = time.monotonic() - start
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, (notebook, overrides, sandbox) in VARIANTS.items():
            rows[name].append(once(notebook, overrides, sandbox))
    print(f"load {os.getloadavg()[0]:.1f}; median of {args.runs} runs (seconds)")
    print(f"{'variant':<44} {'process':>8} {'execute':>8} {'verify':>7}  status")
    for name, runs in rows.items():
        med = {k: statistics.median(r.get(k, 0) for r in runs) for k in ("process", "execute", "verify")}
        print(f"{name:<44} {med['process']:8.1f} {med['execute']:8.1f} {med['verify']:7.1f}  "
              f"{runs[0]['status']}")


if __name__ == "__main__":
    main()
