"""Each limit of the grading machine is reported as that limit (status ``timeout``, its own
kind, exit code 4, words naming the configured value), never as the student's error; and a
kernel that cannot start is waited for by its progress, retried once, then named the
machine's. No kernel here: the decisions are made from what a failed run leaves."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from grader import errors
from grader.errors import ErrorKind
from grader.exceptions import CellError, KernelDied, KernelStartFailed, LimitExceeded
from grader.execute import runner, startup
from grader.exitcodes import ExitCode
from grader.result import Result, Status
from grader.sandbox.limits import limit_hit
from grader.settings import Settings

MB = 1024 * 1024
SETTINGS = Settings(kernel_memory_bytes=512 * MB, kernel_max_file_bytes=4 * MB,
                    kernel_disk_bytes=32 * MB, kernel_cpu_seconds=100)


class Group:
    """What a cgroup (or the guard) says after a run: nothing hit unless told."""

    def __init__(self, memory=False, pids=False, cpu=0.0, disk_hit=False):
        self.memory, self.pids, self.cpu, self.disk_hit = memory, pids, cpu, disk_hit

    def memory_exceeded(self):
        return self.memory

    def pids_exceeded(self):
        return self.pids

    def cpu_seconds(self):
        return self.cpu


def cell_error(ename: str, evalue: str, traceback: str = "") -> CellError:
    return CellError(f"cell 3 raised {ename}: {evalue}", traceback=traceback, cell_index=3)


def hit(exc, group=None, whole=True, own_tmpfs=False, workdir: Path | None = None):
    return limit_hit(group or Group(), workdir or Path("/nonexistent"), SETTINGS, whole, exc,
                     own_tmpfs)


def outcome(limit: LimitExceeded) -> tuple[str, str, int]:
    result = Result.not_graded(limit)
    return result.status.value, str(result.error.kind), int(result.exit_code)


@pytest.mark.parametrize("whole, scope", [(True, "all its processes together"),
                                          (False, "per process")])
def test_an_allocation_the_machine_refuses_is_the_memory_limit_with_the_size_asked(whole, scope):
    found = hit(cell_error("_ArrayMemoryError", "Unable to allocate 27.9 GiB for an array with "
                           "shape (3750000000,) and data type float64"), whole=whole)
    assert outcome(found) == ("timeout", "memory_limit", 4)
    assert found.message.startswith("your notebook tried to allocate 27.9 GiB; the grading "
                                    "machine allows 512 MB (" + scope)


@pytest.mark.parametrize("ename", ["MemoryError", "ResourceExhaustedError"])
def test_a_refused_allocation_of_unknown_size_names_the_limit(ename):
    found = hit(cell_error(ename, ""))
    assert outcome(found) == ("timeout", "memory_limit", 4)
    assert found.message == ("your notebook tried to allocate more memory than it may use; the "
                             "grading machine allows 512 MB (all its processes together), so "
                             "the allocation was refused")


def test_a_killed_process_over_the_memory_limit_is_the_memory_limit():
    found = hit(KernelDied("the kernel died"), group=Group(memory=True))
    assert outcome(found) == ("timeout", "memory_limit", 4)
    assert "more than the memory limit of 512 MB" in found.message


@pytest.mark.parametrize("ename, evalue", [("OSError", "[Errno 27] File too large"),
                                           ("OSError", "[Errno 27] File too large: 'big.bin'")])
def test_a_file_over_the_size_limit_is_the_file_size_limit(ename, evalue):
    found = hit(cell_error(ename, evalue))
    assert outcome(found) == ("timeout", "file_size_limit", 4)
    assert found.message == ("your notebook tried to write a file larger than the grading "
                             "machine allows (4 MB per file)")


@pytest.mark.parametrize("text, where", [
    ("with open('/tmp/fill.bin', 'wb') as f:", "the sandbox's /tmp"),
    ("np.save('/dev/shm/a.npy', a)", "the sandbox's /dev/shm"),
])
def test_a_full_disk_names_the_folder_that_filled(text, where):
    found = hit(cell_error("OSError", "[Errno 28] No space left on device",
                           traceback=f"----> 2 {text}\nOSError: [Errno 28] No space left on device"))
    assert outcome(found) == ("timeout", "disk_limit", 4)
    assert found.message == f"the notebook filled {where} (limit 32 MB)"


def test_a_full_working_folder_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.sandbox.limits._measured_full", lambda path: path == tmp_path)
    found = hit(cell_error("OSError", "[Errno 28] No space left on device"), workdir=tmp_path)
    assert found.message == "the notebook filled its working folder (/home/student) (limit 32 MB)"
    found = hit(cell_error("OSError", "[Errno 28] No space left on device: 'fill3.bin'"))
    assert found.message == "the notebook filled its working folder (/home/student) (limit 32 MB)"


def test_the_results_folder_the_guard_watches_is_named():
    found = hit(None, group=Group(disk_hit=True), whole=False, own_tmpfs=True)
    assert found.kind == "disk_limit" and "collects its results (/run/grader)" in found.message


@pytest.mark.parametrize("ename, evalue", [("ValueError", "File too large to be a model"),
                                           ("OSError", "[Errno 2] No such file or directory"),
                                           ("NameError", "name 'MemoryErrors' is not defined")])
def test_the_students_own_errors_stay_cell_errors(ename, evalue):
    assert hit(cell_error(ename, evalue)) is None


def test_without_a_sandbox_a_memory_error_is_the_notebooks_own():
    assert limit_hit(None, Path("."), SETTINGS, True, cell_error("MemoryError", "")) is None


def test_the_new_kinds_are_limits_with_advice_and_a_failed_start_is_retried_by_a_rerun():
    for kind in (ErrorKind.FILE_SIZE_LIMIT, ErrorKind.KERNEL_START):
        assert kind in errors.LIMITS and kind.info.advice and not kind.grader_fault
    assert errors.is_retried("kernel_start") and errors.is_retried("internal")
    assert not errors.is_retried("memory_limit") and not errors.is_retried("cell_error")


# -- a kernel start ------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class SlowKernel:
    """Answers after ``ready_at`` seconds of the fake clock; each wait advances it."""

    def __init__(self, clock: Clock, ready_at: float, dies=False):
        self.clock, self.ready_at, self.dies = clock, ready_at, dies

    async def wait_for_ready(self, timeout):
        if self.dies:
            raise RuntimeError("Kernel died before replying to kernel_info")
        if self.clock.now + timeout >= self.ready_at:
            self.clock.now = self.ready_at
            return
        self.clock.now += timeout
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")


def wait(kernel, clock, cpu):
    return asyncio.run(startup.wait_until_ready(kernel, 60, cpu, clock=clock, slice_s=5))


def test_a_kernel_that_keeps_working_is_waited_for_past_the_timeout():
    clock = Clock()
    assert wait(SlowKernel(clock, ready_at=150), clock, lambda: clock.now / 2) == 150


def test_an_idle_kernel_fails_at_the_timeout():
    clock = Clock()
    with pytest.raises(startup.StartFailed, match="did not answer within 60 s and made no progress"):
        wait(SlowKernel(clock, ready_at=150), clock, lambda: 1.0)
    assert clock.now == 60


def test_a_busy_kernel_fails_at_the_ceiling():
    clock = Clock()
    with pytest.raises(startup.StartFailed, match="still starting after 180 s"):
        wait(SlowKernel(clock, ready_at=1000), clock, lambda: clock.now)


@pytest.mark.parametrize("dies, cpu", [(True, 1.0), (False, None)])
def test_a_kernel_that_exits_while_starting_fails_at_once(dies, cpu):
    clock = Clock()
    with pytest.raises(startup.StartFailed, match="exited before answering"):
        wait(SlowKernel(clock, ready_at=1000, dies=dies), clock, lambda: cpu)
    assert clock.now <= 5


def test_a_start_that_fails_twice_is_the_machines_limit_not_the_students(monkeypatch):
    calls = []

    async def never_starts(*args):
        calls.append(1)
        raise startup.StartFailed("the kernel did not answer within 60 s and made no progress")

    monkeypatch.setattr(runner, "_run", never_starts)
    with pytest.raises(KernelStartFailed) as info:
        runner._started(None, "nonce", Settings(), None)
    assert len(calls) == runner.START_ATTEMPTS == 2
    result = Result.not_graded(info.value)
    assert (result.status, str(result.error.kind), result.exit_code) == (
        Status.TIMEOUT, "kernel_start", ExitCode.LIMIT)
    assert result.error.message.startswith("the grading machine could not start the notebook's "
                                           "Python (2 tries: the kernel did not answer")
    assert result.error.advice == ErrorKind.KERNEL_START.info.advice


def test_a_start_that_fails_once_is_retried(monkeypatch):
    outcomes = [startup.StartFailed("slow"), "ran"]

    async def flaky(*args):
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    monkeypatch.setattr(runner, "_run", flaky)
    assert runner._started(None, "nonce", Settings(), None) == "ran"


def test_a_batch_rerun_grades_a_failed_kernel_start_again_but_keeps_other_limits(tmp_path, spec):
    import json

    from grader.batch.folder import reusable
    from grader.pipeline import versions
    from grader.result import ErrorInfo

    path, options = tmp_path / "alice.json", {"verify": False}

    def saved(kind: str) -> Result | None:
        result = Result("alice", Status.TIMEOUT, notebook_sha256="abc", versions=versions(),
                        spec={"sha256": spec.sha256}, error=ErrorInfo(kind, "limit"))
        path.write_text(json.dumps({**result.to_dict(), "options": options}))
        return reusable(path, "abc", spec, options)

    assert saved("kernel_start") is None
    assert saved("memory_limit") is not None and saved("file_size_limit") is not None

