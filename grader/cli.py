"""The ``grader`` command: a thin layer over the library. No prompts, documented exit codes."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from grader import __version__, api
from grader.exceptions import GraderError, OutputError, UsageError
from grader.exitcodes import ExitCode
from grader.render import terminal, writers
from grader.render.files import write_text
from grader.settings import Settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="the exercise's data file (else $GRADER_DATA, "
                   "the cache, or a download)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--exercise", metavar="NAME", help="the exercise to grade against: a "
                       "folder under reference/ or an exercise shipped in the package "
                       "(default: $GRADER_REFERENCE, else cnn2)")
    which.add_argument("--reference", type=Path, help="any reference folder with spec.json "
                       "(default: $GRADER_REFERENCE or the repository's reference/cnn2/)")
    p.add_argument("--timeout", type=float, default=Settings.notebook_timeout, metavar="SECONDS",
                   help="limit for executing the whole notebook (default %(default)g)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the verification training (structure checks only)")


def _formats(p: argparse.ArgumentParser, check: bool) -> None:
    """The same formats for both commands (``grader.render.writers``); ``check`` also gets a
    path flag per format. The writers are imported here, before any notebook runs: an
    unsandboxed notebook cannot swap a renderer on disk."""
    offered = writers.available()
    where = "each into DIR under its default name" if check else \
        f"besides {', '.join(writers.GRADE_DEFAULTS)}, which are always written"
    p.add_argument("--format", action="append", metavar="NAME[,NAME]",
                   help=f"also write these formats ({', '.join(offered)}), {where}")
    if check:
        p.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                       help="the folder for --format (default: the current folder)")
        for writer in offered.values():
            p.add_argument(writer.option, type=Path, metavar=writer.metavar, help=writer.help)
    p.add_argument("--gradescope-visibility", action="append", default=[],
                   metavar="[CATEGORY=]LEVEL",
                   help="Gradescope visibility of a check category (added_layer, architecture, "
                   "totals, training, grading) or of all: hidden, after_due_date, "
                   "after_published, visible (default: exercise.json's, else visible)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="grader", description="Grade cnn2 MNIST notebooks.")
    top.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="grade one notebook (students, Gradescope, CI)")
    check.add_argument("notebook", type=Path)
    _formats(check, check=True)
    check.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="auto")
    _common(check)

    grade = sub.add_parser("grade", help="grade every notebook in a folder (instructors)")
    grade.add_argument("folder", type=Path)
    grade.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")
    grade.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="required")
    grade.add_argument("--workers", type=int, metavar="N",
                       help="parallel workers (default: what the cores and free memory allow)")
    grade.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       default=os.environ.get("GRADER_CLUSTER"),
                       help="grade on this Dask scheduler's workers (default: $GRADER_CLUSTER; "
                       "none: this machine)")
    grade.add_argument("--force", action="store_true",
                       help="regrade everything, even submissions already graded in DIR")
    grade.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report")
    _formats(grade, check=False)
    grade.add_argument("--gradebook", choices=("canvas", "moodle"),
                       help="also write DIR/gradebook-SYSTEM.csv for the LMS's grade import")
    grade.add_argument("--roster", type=Path, metavar="FILE",
                       help="the class list exported from the LMS (Canvas: Grades → Export)")
    grade.add_argument("--roster-map", type=Path, metavar="FILE",
                       help="CSV of submission,student id pairs for names that are not LMS ids")
    grade.add_argument("--assignment", metavar="NAME",
                       help="the LMS assignment (default: the exercise's name)")
    _common(grade)

    spec = sub.add_parser("spec", help="generate REFERENCE_DIR/spec.json from the solution "
                          "notebook")
    spec.add_argument("reference", type=Path, nargs="?")
    spec.add_argument("--data", type=Path)
    spec.add_argument("--sandbox", choices=api.SANDBOX_LEVELS, default="auto")
    calibrate = sub.add_parser("calibrate", help="train the reference architecture over seeds "
                               "and write the accuracy range into spec.json")
    calibrate.add_argument("reference", type=Path, nargs="?")
    calibrate.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                           help="calibration seeds (default: the spec's, else 1..10)")
    calibrate.add_argument("--epochs", type=int, help="epochs (default: the spec's, else 1)")
    calibrate.add_argument("--batch-size", type=int, help="default: the spec's, else 128")
    calibrate.add_argument("--seed", type=int, help="the seed used when grading "
                           "(default: the first calibration seed)")
    calibrate.add_argument("--data", type=Path)
    sub.add_parser("doctor", help="what this machine offers the sandbox, the level grade "
                   "uses, and the commands that add what is missing")
    data = sub.add_parser("data", help="find or download the data file, verify it, cache it")
    data.add_argument("--from", dest="source", type=Path, metavar="PATH",
                      help="copy this file into the cache (after checking its sha256)")
    data.add_argument("--reference", type=Path)
    return top


def settings_from(args: argparse.Namespace) -> Settings:
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    return Settings(notebook_timeout=args.timeout, verify=not getattr(args, "no_verify", False),
                    sandbox=args.sandbox, data_path=args.data,
                    cluster=getattr(args, "cluster", None))


def _preload(*modules: str) -> None:
    """Import in the background while the notebook runs (the main thread mostly waits)."""
    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the real import later reports any problem
                pass
    threading.Thread(target=load, daemon=True).start()


def reference_of(args: argparse.Namespace) -> Path | None:
    """``--reference DIR`` as given, ``--exercise NAME`` as its folder (an unknown name is a
    usage error listing the known ones), else None: the default exercise."""
    from grader.spec import exercise_dir

    return exercise_dir(args.exercise) if args.exercise is not None else args.reference


def gradescope_visibility(args: argparse.Namespace) -> dict[str, str]:
    """``exercise.json``'s ``gradescope.visibility``, overridden by the command line."""
    from grader.render.gradescope import parse_visibility
    from grader.spec import EXERCISE_FILE, default_reference_dir

    path = Path(args.reference or default_reference_dir()) / EXERCISE_FILE
    try:  # a reference folder may hold only its spec.json: then nothing is configured
        text = path.read_text() if path.is_file() else "{}"
        configured = json.loads(text).get("gradescope", {}).get("visibility", {})
        return parse_visibility(args.gradescope_visibility, configured)
    except (OSError, ValueError, AttributeError) as exc:
        raise UsageError(f"Gradescope visibility ({path} or --gradescope-visibility): {exc}") \
            from None


def format_context(args: argparse.Namespace, chosen: list[writers.Writer]) -> writers.Context:
    """Options of the chosen formats, read (and refused when bad) before any grading."""
    gradescope = any(w.name == "gradescope" for w in chosen)
    return writers.Context(visibility=gradescope_visibility(args) if gradescope else "visible")


def check_targets(args: argparse.Namespace) -> list[tuple[writers.Writer, Path]]:
    """Each format asked for and its file: its own flag's path, else ``--out DIR/<file_name>``."""
    asked = writers.parse_formats(args.format)
    targets = []
    for writer in writers.available().values():
        path = getattr(args, writer.dest, None)
        if path is None and writer in asked:
            path = args.out / writer.file_name
        if path is not None:
            targets.append((writer, Path(path)))
    return targets


def cmd_check(args: argparse.Namespace) -> int:
    args.reference = reference_of(args)
    targets = check_targets(args)
    context = format_context(args, [w for w, _ in targets])
    preload = [module for writer, _ in targets for module in writer.preload]
    if preload:
        _preload(*preload)
    try:
        result = api.check(args.notebook, reference=args.reference, settings=settings_from(args))
    except GraderError as exc:
        for writer, path in targets:  # Gradescope shows this instead of "autograder failed"
            if writer.failure is not None:
                try:
                    write_text(path, writer.failure(exc.message))
                except OSError as problem:  # the error that stopped the check comes first
                    print(f"grader: error: cannot write {path} ({problem.strerror or problem})",
                          file=sys.stderr)
        raise
    unwritten = []
    for writer, path in targets:
        try:
            writer.write_one(result, path, context)
        except OSError as exc:  # the other files and the summary still come out
            unwritten.append(f"{path} ({exc.strerror or exc})")
    print(terminal.summary(result, color=sys.stdout.isatty()))
    if unwritten:
        raise OutputError(f"cannot write {', '.join(unwritten)}: choose a writable file")
    return int(result.exit_code)


def cmd_grade(args: argparse.Namespace) -> int:
    from grader.batch.folder import grade_folder
    from grader.render.lms import GradebookOptions

    args.reference = reference_of(args)
    if (args.roster or args.roster_map or args.assignment) and not args.gradebook:
        raise UsageError("--roster, --roster-map and --assignment go with --gradebook canvas|moodle")
    gradebook = GradebookOptions(args.gradebook, args.roster, args.roster_map, args.assignment) \
        if args.gradebook else None
    formats = writers.parse_formats(args.format)
    context = format_context(args, formats)
    if args.cluster:
        print(f"grader: cluster {args.cluster}: each worker grades in the strongest sandbox its "
              f"machine offers (--sandbox {args.sandbox})", flush=True)
    elif (line := api.sandbox_line(args.sandbox)) is not None:
        print(f"grader: {line}", flush=True)
    return int(grade_folder(args.folder, args.out, reference=args.reference,
                            settings=settings_from(args), workers=args.workers, force=args.force,
                            junit_path=args.junit, gradebook=gradebook, formats=formats,
                            context=context))


def cmd_spec(args: argparse.Namespace) -> int:
    settings = Settings(sandbox=args.sandbox, data_path=args.data)
    spec = api.generate_spec(args.reference, settings=settings)
    print(f"wrote {spec.path}: {len(spec.layers)} layers, layers to add: "
          f"{', '.join(spec.layers[i]['description'] for i in spec.missing)}; "
          f"totals {spec.totals['total']:,} ({spec.totals['trainable']:,} trainable, "
          f"{spec.totals['non_trainable']:,} non-trainable)")
    return int(ExitCode.PASSED)


def cmd_data(args: argparse.Namespace) -> int:
    from grader.intake import data

    spec = api.load_spec(args.reference)
    print(data.seed_cache(spec.data, args.source) if args.source else api.resolve_data(spec, None))
    return int(ExitCode.PASSED)


def cmd_calibrate(args: argparse.Namespace) -> int:
    def progress(seed: int, run: dict) -> None:
        print(f"seed {seed}: validation accuracy {run['val_accuracy']:.4f} "
              f"({run['seconds']:.1f} s)", flush=True)

    spec = api.calibrate(args.reference, seeds=args.seeds, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed,
                         settings=Settings(data_path=args.data), progress=progress)
    t = spec.training
    assert t is not None  # api.calibrate sets it
    print(f"wrote {spec.path}: {t['epochs']} epoch(s), batch size {t['batch_size']}, grading "
          f"seed {t['seed']}; accuracies {min(t['calibration']['accuracies']):.4f}–"
          f"{max(t['calibration']['accuracies']):.4f}; range {t['range'][0]:.2f}–{t['range'][1]:.2f}")
    return int(ExitCode.PASSED)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 where ``grade`` can run sandboxed, 5 (grader error) where it cannot."""
    from grader.exceptions import SandboxUnavailable
    from grader.sandbox import doctor

    offer = doctor.survey()
    print(doctor.report(offer))
    try:
        doctor.choose(offer)
    except SandboxUnavailable:
        return int(ExitCode.GRADER_ERROR)
    return int(ExitCode.PASSED)


COMMANDS = {"doctor": cmd_doctor, "check": cmd_check, "grade": cmd_grade, "spec": cmd_spec, "data": cmd_data,
            "calibrate": cmd_calibrate}


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: kernels and workers stopped, results kept, temp dirs gone."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, not one per signal
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.formatwarning = lambda msg, *a, **k: f"grader: warning: {msg}\n"
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return COMMANDS[args.command](args)
    except GraderError as exc:
        print(f"grader: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except Terminated:
        print("grader: terminated (SIGTERM); finished results are kept", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
