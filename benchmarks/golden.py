"""Golden outputs of the sample submissions: capture them, and compare two captures.

A refactoring changes nothing a user sees; this shows it. ``capture`` grades ``submissions/``
(JSON, HTML, CSV, JUnit, Gradescope, a Canvas and a Moodle gradebook) and checks one notebook
with every format, with ``--no-verify`` (no training: minutes, not tens of minutes), then
masks what differs between any two runs (timings, dates, versions, the source hash, absolute
paths) into ``OUT/masked/``. ``compare`` diffs two masked trees file by file.

    # the code as it was, from a commit, beside the working tree's
    git archive BASE | tar -x -C /tmp/base
    python benchmarks/golden.py capture /tmp/golden_before --src /tmp/base
    python benchmarks/golden.py capture /tmp/golden_after
    python benchmarks/golden.py compare /tmp/golden_before /tmp/golden_after

``--src DIR`` runs the grader from that source tree (``PYTHONPATH``) with this interpreter.
Needs ``GRADER_DATA`` (or the cache) and the sandbox ``grade`` uses (``--sandbox`` to change it).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = "bob_no_padding.ipynb"
#: keys whose values change from run to run (seconds, dates, versions, hashes of the source)
VOLATILE_KEYS = {"timings", "versions", "execution_time", "timestamp", "time", "seconds",
                 "started", "finished", "duration", "grader_source"}
VOLATILE_TEXT = [
    (re.compile(r'(timestamp|time)="[^"]*"'), r'\1="<masked>"'),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<date>"),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "<seconds> s"),
    (re.compile(r"\b\d+m\d\ds\b"), "<duration>"),
    # the index's histogram of grading times
    (re.compile(r'(id="plot-times" src=")[^"]*'), r"\1<plot>"),
    # TensorFlow's log lines in a kernel's stderr carry the epoch time
    (re.compile(r"\b\d{10}\.\d{6}\b"), "<epoch>"),
    (re.compile(r"(grader|tensorflow|keras|nbclient)(</t[dh]>\s*<t[dh][^>]*>|\s)\d+\.\d+[\w.]*"),
     r"\1\2<version>"),
]


def _grader(src: Path | None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return [sys.executable, "-m", "grader"], env


def capture(out: Path, src: Path | None, sandbox: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.rosters import canvas_roster, moodle_roster

    if out.exists():
        shutil.rmtree(out)
    raw = out / "raw"
    raw.mkdir(parents=True)
    canvas, moodle = canvas_roster(out / "canvas.csv"), moodle_roster(out / "moodle.csv")
    cmd, env = _grader(src)
    runs = {
        "grade": [*cmd, "grade", str(ROOT / "submissions"), "--out", str(raw / "grade"),
                  "--format", "junit,gradescope", "--gradebook", "canvas", "--roster", str(canvas),
                  "--no-verify", "--sandbox", sandbox],
        "moodle": [*cmd, "grade", str(ROOT / "submissions"), "--out", str(raw / "moodle"),
                   "--gradebook", "moodle", "--roster", str(moodle), "--no-verify",
                   "--sandbox", sandbox],
        "check": [*cmd, "check", str(ROOT / "submissions" / CHECKED), "--out", str(raw / "check"),
                  "--format", "json,html,csv,junit,gradescope", "--no-verify", "--sandbox", sandbox],
    }
    for name, argv in runs.items():
        if name == "moodle":  # a copy of grade's results, re-used: only the gradebook is new
            shutil.copytree(raw / "grade", raw / "moodle")
        # ``python -m`` puts the working folder first on sys.path: run in the source tree
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=src or ROOT)
        (raw / f"{name}.txt").write_text(f"exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        print(f"{name}: exit {done.returncode}", flush=True)
    (out / "paths.json").write_text(json.dumps([str(raw), str(src or ROOT), str(ROOT), str(out)]))
    mask_tree(raw, out / "masked", json.loads((out / "paths.json").read_text()))


def mask_tree(raw: Path, masked: Path, paths: list[str]) -> None:
    if masked.exists():
        shutil.rmtree(masked)
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        target = masked / path.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(mask(path, sorted(set(paths), key=len, reverse=True)))


def mask(path: Path, paths: list[str]) -> str:
    text = path.read_text(errors="replace")
    if path.suffix == ".json":
        try:
            text = json.dumps(_mask_json(json.loads(text)), indent=1, sort_keys=True)
        except ValueError:
            pass
    for prefix in paths:
        text = text.replace(prefix, "<path>")
    for pattern, replacement in VOLATILE_TEXT:
        text = pattern.sub(replacement, text)
    if path.suffix == ".txt":  # a command's output: progress lines come in completion order
        text = re.sub(r"\[\d+/(\d+)\]", r"[n/\1]", text)
        text = "\n".join(sorted(text.splitlines()))
    return text


def _mask_json(value):
    if isinstance(value, dict):
        return {k: "<masked>" if k in VOLATILE_KEYS else _mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def compare(before: Path, after: Path) -> int:
    for capture in (before, after):  # masked again: the masks may have improved since
        mask_tree(capture / "raw", capture / "masked",
                  json.loads((capture / "paths.json").read_text()))
    a, b = before / "masked", after / "masked"
    names = sorted({p.relative_to(a) for p in a.rglob("*") if p.is_file()}
                   | {p.relative_to(b) for p in b.rglob("*") if p.is_file()})
    differ = 0
    for name in names:
        left = (a / name).read_text().splitlines() if (a / name).is_file() else ["<absent>"]
        right = (b / name).read_text().splitlines() if (b / name).is_file() else ["<absent>"]
        if left != right:
            differ += 1
            print(f"--- {name} differs")
            sys.stdout.writelines(line + "\n" for line in list(difflib.unified_diff(
                left, right, "before", "after", lineterm="", n=1))[:40])
    print(f"{len(names)} files, {differ} differ")
    return 1 if differ else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("capture")
    c.add_argument("out", type=Path)
    c.add_argument("--src", type=Path, help="the grader's source tree (default: installed)")
    c.add_argument("--sandbox", default="auto")
    d = sub.add_parser("compare")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    args = p.parse_args()
    if args.command == "capture":
        capture(args.out, args.src, args.sandbox)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
