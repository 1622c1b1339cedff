"""The ``grader`` command: a thin layer over the library. No prompts, documented exit codes."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from grader import api, options
from grader.batch import executor
from grader.cli_args import parser
from grader.exceptions import GraderError, OutputError, UsageError
from grader.exitcodes import ExitCode
from grader.render import terminal, writers
from grader.render.files import write_text
from grader.settings import Settings


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings the parsed command runs with (``grader.options``)."""
    return options.settings_from(args)


def reference_of(args: argparse.Namespace) -> Path | None:
    """``--reference DIR`` as given, ``--exercise NAME`` as its folder (an unknown name is a
    usage error listing the known ones), else None: the default exercise."""
    from grader.exercise.spec import exercise_dir

    return exercise_dir(args.exercise) if args.exercise is not None else args.reference


def format_context(args: argparse.Namespace, chosen: list[writers.Writer]) -> writers.FormatContext:
    """Options of the chosen formats, read (and refused when bad) before any grading."""
    return writers.context_from(args, chosen)


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
    from grader.lms.gradebook import GradebookOptions

    args.reference = reference_of(args)
    if (args.roster or args.roster_map or args.assignment) and not args.gradebook:
        raise UsageError("--roster, --roster-map and --assignment go with --gradebook "
                         "canvas|moodle|gradescope")
    gradebook = GradebookOptions(args.gradebook, args.roster, args.roster_map, args.assignment) \
        if args.gradebook else None
    formats = writers.parse_formats(args.format)
    context = format_context(args, formats)
    settings = settings_from(args)
    line = executor.chosen(settings).announce(settings) or api.sandbox_line(args.sandbox)
    if line is not None:
        print(f"grader: {line}", flush=True)
    return int(grade_folder(args.folder, args.out, reference=args.reference,
                            settings=settings, workers=args.workers, force=args.force,
                            junit_path=args.junit, gradebook=gradebook, formats=formats,
                            context=context, layout=args.layout, manual=args.manual))


def cmd_spec(args: argparse.Namespace) -> int:
    spec = api.generate_spec(args.reference, settings=settings_from(args))
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
                         settings=settings_from(args), progress=progress)
    t = spec.training
    assert t is not None  # api.calibrate sets it
    print(f"wrote {spec.path}: {t['epochs']} epoch(s), batch size {t['batch_size']}, grading "
          f"seed {t['seed']}; accuracies {min(t['calibration']['accuracies']):.4f}–"
          f"{max(t['calibration']['accuracies']):.4f}; range {t['range'][0]:.2f}–{t['range'][1]:.2f}")
    return int(ExitCode.PASSED)


def cmd_baselines(args: argparse.Namespace) -> int:
    where = args.reference or "the default exercise"
    target = api.baselines(args.reference, settings=settings_from(args),
                           progress=lambda line: print(line, flush=True),
                           command=f"grader baselines {where}")
    print(f"wrote {target}")
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
            "calibrate": cmd_calibrate, "baselines": cmd_baselines}


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: kernels and workers stopped, results kept, temp dirs gone."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, not one per signal
    raise Terminated()


#: a dropped SIGTERM is delivered again this long after (out of the finalizer by then), at most
#: this many times (then by the default action: the process ends at once)
REDELIVER_S, REDELIVER_MAX = 0.05, 20


def _unraisable(hook, timers: list[threading.Timer]):
    """A ``sys.unraisablehook`` that delivers again a SIGTERM whose ``Terminated`` Python dropped.

    Python runs a signal's handler wherever the main thread is, finalizers included: a
    ``__del__`` or a weakref callback (pyzmq's sockets close in theirs while a kernel starts).
    What a finalizer raises is printed as "Exception ignored in …" and dropped: SIGTERM was
    left ignored (``_on_sigterm``) and the check ran on for good, its kernel with it. So the
    signal is sent again to the main thread (that thread only: not the kernel, not the
    process group), a moment later: raised at once, it would land in this hook or the
    finalizer and be dropped again (were it still, this hook sends it once more). Any other
    unraisable exception goes to ``hook``. (Ctrl-C needs none of this: while a kernel runs,
    ``asyncio.run``'s own handler cancels the run instead of raising.) ``timers``: the
    redeliveries, which ``main`` cancels on its way out."""
    def redeliver(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Terminated):
            hook(unraisable)
            return
        if len(timers) >= REDELIVER_MAX:  # dropped again and again: end as SIGTERM would
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        signal.signal(signal.SIGTERM, _on_sigterm)  # the dropped raise had ignored SIGTERM
        timer = threading.Timer(REDELIVER_S, signal.pthread_kill,
                                (threading.main_thread().ident, signal.SIGTERM))
        timer.daemon = True
        timers.append(timer)
        timer.start()
    return redeliver


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.formatwarning = lambda msg, *a, **k: f"grader: warning: {msg}\n"
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    hook, redeliveries = sys.unraisablehook, list[threading.Timer]()
    if main_thread:
        sys.unraisablehook = _unraisable(hook, redeliveries)
    try:
        code = COMMANDS[args.command](args)
        if redeliveries:  # a SIGTERM came and was dropped; the command ended before it was back
            raise Terminated()
        return code
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
        for timer in redeliveries:  # none may fire after this command: a library's caller
            timer.cancel()          # runs on with its own handlers
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if main_thread:
            sys.unraisablehook = hook
