"""Stage 2: execute a submission in a fresh working directory and bring back plain JSON.

The kernel is always chosen by the grader (never the notebook's metadata), started through a
:class:`~grader.sandbox.launch.Launcher` (plain or sandboxed), and shut down in ``finally``, whatever
happened. Outputs are capped: past the budget the kernel is stopped.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
import typing as t
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL
from typing import cast

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import run_hook

from grader.exceptions import (
    CellError,
    GraderError,
    KernelDied,
    KernelStartFailed,
    LimitExceeded,
    NotGradable,
)
from grader.execute import report_channel
from grader.execute.channels import HEADROOM, RAW_SIZE, CappedKernelClient, Watch
from grader.execute.kernel.probe import PROBE_SEED
from grader.execute.legacy import legacy_markers
from grader.execute.needs import wants_tensorflow
from grader.execute.pinned import stop_when_pinned
from grader.execute.prepare import prepare, read_notebook
from grader.execute.startup import StartFailed, tree_cpu_seconds, wait_until_ready
from grader.sandbox.launch import Launcher, LaunchSpec
from grader.settings import Settings
from grader.util.files import tail
from grader.util.text import first_line, plain

#: a kernel that fails to start is started once more (a fresh kernel) before giving up
START_ATTEMPTS = 2
#: the expression the runner evaluates, after the last cell, to get the report (``guard.py``)
#: with the probe's seed, drawn per run: the probe batch is not known to the notebook in advance
REPORT = "__grader_report_{}({})"
#: asked for first when the caller wants the description early (``execute``'s ``on_described``):
#: the description alone, without the weights and probe outputs that take the kernel ~0.4 s
PREVIEW = "__grader_report_{}(None, False)"


@dataclass(repr=False)
class Execution:
    """What came back from the kernel: the extraction report and timings.

    Its ``repr`` is short: ``asyncio.run`` shows the finished task's result in the repr of the
    SIGINT handler it installs, and Python's ``signal`` module builds that repr twice per run
    (~0.12 s of every grading with the whole report and notebook in it)."""

    report: dict
    seconds: float
    output_bytes: int
    cells: int
    #: the submitted notebook as read, with the outputs the student saved
    original: nbformat.NotebookNode | None = None
    warnings: list[str] = field(default_factory=list)
    #: Keras 1/2 markers found in the source (the compatibility layer ran when non-empty)
    legacy: list[str] = field(default_factory=list)
    #: the seed of the cross-check's probe batch, drawn by the runner (never read from the kernel)
    probe_seed: int = PROBE_SEED

    def __repr__(self) -> str:
        return (f"Execution(cells={self.cells}, seconds={self.seconds:.2f}, "
                f"output_bytes={self.output_bytes}, models={len(self.report.get('models') or [])})")


#: seconds the kernel client's sockets and zmq context get to close (milliseconds normally)
CLOSE_TIMEOUT = 10.0


class _CappedClient(NotebookClient):
    """Counts output bytes as received; past the budget, drops them and stops the kernel. Its
    channels refuse any single message over the budget (``grader.execute.channels``)."""

    def __init__(self, *args, output_limit: int, handlers: _SignalHandlers,
                 report_limit: int = 0, refusals: t.Callable[[], int] = lambda: 0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: the sandbox's count of refused forks (``grader.execute.pinned``)
        self.refusals = refusals
        self.pinned_watch: asyncio.Future | None = None
        #: the kernel was stopped for spinning at its process limit (``grader.execute.pinned``)
        self.pinned = False
        self.output_limit = output_limit
        #: the shell channel carries the grader's report (weights included): its own cap
        self.report_limit = report_limit
        self.output_bytes = 0
        self.flooded = False
        #: the channel whose one message was over the cap (None: the budget was passed in sum)
        self.oversized: str | None = None
        self.handlers = handlers
        self.watch: Watch | None = None
        #: the cell running now (``_cells_until``), for the error's cell number
        self.grader_index: int | None = None

    async def async_start_new_kernel(self, **kwargs):
        self.handlers.restore()  # nbclient has just taken SIGINT/SIGTERM over: take them back
        return await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        """nbclient's, with capped channels and a wait by measured progress
        (``grader.execute.startup``) instead of a fixed one."""
        assert self.km is not None
        try:
            kc = t.cast(CappedKernelClient, self.km.client(
                message_cap=self.output_limit + HEADROOM,
                shell_cap=max(self.report_limit, self.output_limit) + HEADROOM))
            self.kc, self.kc_context = kc, kc.context
            kc.start_channels()
            self.watch = Watch(kc, self._kernel_alive, self._oversized)
            pid = getattr(self.km.provisioner, "pid", None)
            await wait_until_ready(self.kc, self.startup_timeout, lambda: tree_cpu_seconds(pid))
            self.pinned_watch = asyncio.ensure_future(stop_when_pinned(self.refusals, self._pinned))
        except BaseException:
            # ``_run`` stops the kernel and the channels; nbclient's set-up registered a clean-up
            # at exit that it only removes after a start that worked
            atexit.unregister(self._cleanup_kernel)
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    async def _kernel_alive(self) -> bool:
        return bool(self.km is not None and await ensure_async(self.km.is_alive()))

    async def _oversized(self, channel: str) -> None:
        """A message over the cap was refused (the channel dropped, the kernel lives on)."""
        self.oversized = self.oversized or channel
        if not self.flooded:
            self.flooded = True
            await self._shutdown_now()

    async def _pinned(self) -> None:
        """The kernel spins at its process limit (``grader.execute.pinned``)."""
        self.pinned = True
        await self._shutdown_now()

    async def _shutdown_now(self) -> None:
        await ensure_async(t.cast(AsyncKernelManager, self.km).shutdown_kernel(now=True))

    @property
    def stopped(self) -> bool:
        """The grader stopped the kernel (its output, or its processes, past a limit)."""
        return self.flooded or self.pinned

    async def stop_watch(self) -> None:
        """End both watches before the kernel is killed; a stop one of them began is awaited,
        not cut short (two shutdowns of one kernel at once would race)."""
        task, self.pinned_watch = self.pinned_watch, None
        if task is not None:
            if not self.pinned:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.watch is not None:
            await self.watch.stop()

    def close_client(self) -> None:
        """Stop the kernel client's channels (the heartbeat thread) and destroy its own zmq
        context (I/O thread, epoll, eventfds). nbclient does neither for a kernel manager it
        was given: a worker grading hundreds of notebooks ran out of file descriptors.

        In a thread, waited for at most ``CLOSE_TIMEOUT``: a SIGTERM that interrupted the
        creation of a socket leaves one the context does not know, and zmq's ``term`` then
        waits for it forever (seen: a terminated check hung there, its kernel already gone)."""
        closing = threading.Thread(target=self._close_client, daemon=True,
                                   name="grader-close-client")
        closing.start()
        closing.join(CLOSE_TIMEOUT)

    def _close_client(self) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
        context = getattr(self, "kc_context", None)
        if context is not None and not context.closed:
            context.destroy(linger=0)

    def output(self, outs, msg, display_id, cell_index):
        size = msg.get(RAW_SIZE)
        self.output_bytes += size if isinstance(size, int) else len(
            json.dumps(msg.get("content", {}), default=str))
        if self.output_bytes > self.output_limit:
            if not self.flooded:
                self.flooded = True
                if self.km is not None:  # nbclient's async manager: shutdown is a coroutine
                    stop = cast(Awaitable[None], self.km.shutdown_kernel(now=True))
                    asyncio.ensure_future(stop)
            return None
        return super().output(outs, msg, display_id, cell_index)


def execute(notebook: Path, data_file: Path, settings: Settings, launcher: Launcher,
            data_url: str | None = None, content: bytes | None = None,
            input_shape: tuple | None = None,
            on_described: t.Callable[[dict], None] | None = None) -> Execution:
    """Run ``notebook`` with ``data_file`` beside it (read-only: a download over it fails and
    the original stays loadable); return the extraction report. ``data_url``: the exercise's
    data URL, whose downloads are answered with the provided file. ``content``: the notebook's
    bytes when the caller read them already (they are what is parsed, run and hashed);
    ``input_shape``: the exercise's, to build a model the notebook never built (for the
    cross-check). ``on_described``: called with the kernel's description (``PREVIEW``) before
    the report is asked for, so that work on the architecture (its verification training) can
    start while the kernel exports its evidence; a hint only: the report is asked for and
    returned as without it."""
    # once: the bytes parsed are the bytes the kernel sees
    data = Path(notebook).read_bytes() if content is None else content
    nb = read_notebook(notebook, data)
    workdir = Path(tempfile.mkdtemp(prefix="grader-run-"))
    try:
        (workdir / notebook.name).write_bytes(data)
        shutil.copyfile(data_file, workdir / data_file.name)
        os.chmod(workdir / data_file.name, 0o444)
        nonce = secrets.token_hex(16)
        with launcher.session(workdir, settings, read_only=[data_file.name],
                              fork=wants_tensorflow(data)) as spec:
            prepared = prepare(nb, settings, nonce, data_file.name, data_url, input_shape)
            try:
                run = _started(prepared, nonce, settings, spec, on_described)
                run.original, run.legacy = nb, legacy_markers(nb)
            except (NotGradable, LimitExceeded) as exc:
                exc.details.setdefault("legacy", legacy_markers(nb))
                raise _limit_cause(spec, exc) from None
            if (hit := spec.limit_hit()) is not None:  # e.g. a child process was OOM-killed
                run.warnings.append(hit.message)
            return run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _started(nb, nonce: str, settings: Settings, spec: LaunchSpec,
             on_described: t.Callable[[dict], None] | None = None) -> Execution:
    """``_run``, with a kernel that failed to start started once more: a busy machine is not
    the submission's fault, nor the grader's (``kernel_start``)."""
    failures: list[StartFailed] = []
    for _ in range(START_ATTEMPTS):
        try:
            return asyncio.run(_run(nb, nonce, settings, spec, on_described))
        except StartFailed as exc:
            failures.append(exc)
    raise KernelStartFailed(
        f"the grading machine could not start the notebook's Python ({START_ATTEMPTS} tries: "
        + "; ".join(f.reason for f in failures) + ")",
        traceback=getattr(failures[-1], "log", "") or None)


def _limit_cause(spec: LaunchSpec, exc: NotGradable | LimitExceeded) -> GraderError:
    """A sandbox limit (memory, processes, disk, CPU) is what to report over the crash, cell
    error or timeout it led to; the cell it happened in is kept."""
    if isinstance(exc, LimitExceeded) and exc.kind in ("output_limit", "kernel_start"):
        return exc
    hit = spec.limit_hit(exc)
    if hit is None:
        return exc
    for key in ("cell_index", "cell_source", "traceback"):
        if key in exc.details:
            hit.details.setdefault(key, exc.details[key])
    return hit


async def _run(nb, nonce: str, settings: Settings, spec: LaunchSpec,
               on_described: t.Callable[[dict], None] | None = None) -> Execution:
    km = AsyncKernelManager(transport=spec.transport, ip=spec.ip, cache_ports=False)
    km.client_factory = CappedKernelClient
    if spec.connection_file:
        km.connection_file = spec.connection_file
    # the grader interrupts a kernel only as ``shutdown_kernel`` does, just before it kills it:
    # by a signal, never by a message on the control socket, whose send blocked a test run
    # forever once the kernel was gone (zmq's mute socket)
    km._kernel_spec = KernelSpec(argv=spec.argv, env={}, display_name="grader", language="python",
                                 interrupt_mode="signal")
    if spec.provisioner is not None:
        km.kernel_id = str(uuid.uuid4())
        km.provisioner = spec.provisioner(kernel_id=km.kernel_id, kernel_spec=km._kernel_spec,
                                          parent=km)
    handlers = _SignalHandlers()
    client = _CappedClient(nb, km=km, timeout=int(settings.cell_timeout),
                           report_limit=_report_limit(settings),
                           startup_timeout=int(settings.startup_timeout), allow_errors=False,
                           output_limit=settings.output_limit_bytes, iopub_timeout=10,
                           shutdown_kernel="immediate", record_timing=False, handlers=handlers,
                           refusals=spec.refusals)
    start = time.monotonic()
    log = tempfile.TemporaryFile()
    try:
        async with client.async_setup_kernel(env=spec.env, cwd=str(spec.cwd), stdin=DEVNULL,
                                             stdout=log, stderr=log):
            await _cells_until(client, nb, settings.notebook_timeout)
            if client.stopped:  # after the last cell: no later cell met the stopped kernel
                raise DeadKernelError("stopped: output or process limit")
            client.grader_index = None
            deadline = time.monotonic() + settings.cell_timeout  # one limit for both requests
            if on_described is not None:
                _hint(on_described, await _ask(client, PREVIEW.format(nonce), settings, deadline))
            seed = secrets.randbits(31)
            report = await _ask(client, REPORT.format(nonce, seed), settings, deadline)
    except StartFailed as exc:
        exc.log = _tail(log)  # type: ignore[attr-defined]
        raise
    except CellTimeoutError as exc:  # first: it is a TimeoutError too (= asyncio's since 3.11)
        raise LimitExceeded(f"a cell ran longer than the limit of {settings.cell_timeout:g} s",
                            kind="timeout", **_cell(client)) from exc
    except asyncio.TimeoutError:
        where = _cell(client)
        at = f" (stopped in cell {where['cell_index']})" if where else ""
        raise LimitExceeded(f"the notebook ran longer than the limit of "
                            f"{settings.notebook_timeout:g} s{at}", kind="timeout", **where) from None
    except DeadKernelError:
        if client.flooded:
            raise LimitExceeded(_flood_message(client, settings), kind="output_limit",
                                **_cell(client)) from None
        raise KernelDied(spec.death_reason() or "the kernel died while running the notebook "
                         "(a crash, os._exit, or the memory limit)", traceback=_tail(log),
                         **_cell(client)) from None
    except CellExecutionError as exc:
        raise CellError(f"cell {_student_index(client)} raised {exc.ename}: {first_line(exc.evalue)}",
                        traceback=plain(str(exc)), **_cell(client)) from None
    finally:
        await client.stop_watch()  # before the kill: one shutdown at a time
        await _ensure_dead(km)
        client.close_client()
        log.close()
        handlers.restore()
    return Execution(report, time.monotonic() - start, client.output_bytes, len(nb.cells) - 1,
                     probe_seed=seed)


async def _ask(client: _CappedClient, expression: str, settings: Settings,
               deadline: float) -> dict:
    """The kernel's answer to one of the grader's report expressions (``report_channel``)."""
    return await report_channel.request(client.kc, expression, max(0.0, deadline - time.monotonic()),
                                        _report_limit(settings), stopped=lambda: client.stopped)


def _hint(on_described: t.Callable[[dict], None], preview: dict) -> None:
    """Give the caller the kernel's first description; its failure costs only what it saved."""
    try:
        on_described(preview)
    except Exception:
        pass


def _report_limit(settings: Settings) -> int:
    """The description's limit plus the cross-check's weights (base64: 4/3) and summaries."""
    return settings.extract_limit_bytes + settings.crosscheck_limit_bytes * 4 // 3 + 1_000_000


def _flood_message(client: _CappedClient, settings: Settings) -> str:
    limit = f"{settings.output_limit_bytes:,} bytes"
    if client.oversized:
        return (f"the notebook sent one output larger than the output limit of {limit} (it "
                "was refused unread); the kernel was stopped")
    return f"the notebook printed more than {limit} of output; the kernel was stopped"


class _SignalHandlers:
    """The caller's SIGINT/SIGTERM handlers, put back over nbclient's.

    nbclient turns both signals into a kernel clean-up that leaves the run going on (the
    caller then sees a dead kernel), and afterwards leaves SIGTERM at its default. The grader
    decides instead: Ctrl-C and SIGTERM stop the whole command (results kept, exit 130/143),
    and the kernel is shut down on the way out by ``_run``'s ``finally``.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.saved = ({s: signal.getsignal(s) for s in self.SIGNALS}
                      if threading.current_thread() is threading.main_thread() else {})

    def restore(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, handler in self.saved.items():
            try:
                loop.remove_signal_handler(sig)
            except (RuntimeError, ValueError):
                pass
            if handler is not None:
                signal.signal(sig, handler)


async def _cells_until(client: _CappedClient, nb, seconds: float) -> None:
    """Run every cell; past ``seconds`` cancel and raise TimeoutError (nbclient would turn the
    cancellation into DeadKernelError, which is why this is not ``asyncio.wait_for``).

    A cancelled run of the cells ends cancelled, not in that DeadKernelError, and is awaited
    when this one is cancelled (Ctrl-C): else Ctrl-C and SIGTERM, which stop ``asyncio.run``
    (it cancels every task left), left a traceback on stderr ("unhandled exception during
    asyncio.run() shutdown", "Task exception was never retrieved")."""
    async def cells() -> None:
        try:
            for index, cell in enumerate(nb.cells):
                client.grader_index = index
                await client.async_execute_cell(cell, index)
        except DeadKernelError:
            this = asyncio.current_task()
            if this is not None and getattr(this, "cancelling", lambda: 0)():  # Python ≥ 3.11
                raise asyncio.CancelledError from None
            raise

    task = asyncio.ensure_future(cells())
    done: set = set()
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:  # past the time, or this run cancelled (Ctrl-C): the cells stop, their end awaited
        task.cancel()  # no-op once done
        await asyncio.gather(task, return_exceptions=True)
    if not done:
        raise asyncio.TimeoutError
    task.result()


def _student_index(client) -> int | None:
    """Cell number as the student sees it (1-based, without the grader's prelude)."""
    index = getattr(client, "grader_index", None)
    if index is None or index == 0 or index > len(client.nb.cells) - 1:
        return None
    return index


def _cell(client) -> dict:
    index = _student_index(client)
    if index is None:
        return {}
    return {"cell_index": index, "cell_source": client.nb.cells[index].source[:5000]}


async def _ensure_dead(km: AsyncKernelManager) -> None:
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:
        pass
    try:
        await ensure_async(km.cleanup_resources())
    except Exception:
        pass


def _tail(log) -> str:
    """The end of the kernel's own stderr: says 'Segmentation fault' and the like."""
    return plain(tail(log))
