"""Cross-check workers kept between gradings inside ``kept()`` (grader.verify.kept): reused for
the same worker environment, bounded, and all stopped when the block ends; outside a block
every grading's worker stops with it."""
from __future__ import annotations

import itertools

import pytest

from grader.settings import Settings
from grader.verify import kept as K
from grader.verify import verifier as V

_pids = itertools.count(1000)


class FakeVerifier:
    """Records starts and stops instead of importing TensorFlow in a process."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.pid, self.stopped = settings, None, False

    def start(self) -> FakeVerifier:
        if self.pid is None:
            self.pid = next(_pids)
        return self

    def close(self) -> None:
        self.pid, self.stopped = None, True

    @property
    def pids(self) -> set[int]:
        return set() if self.pid is None else {self.pid}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(V, "Verifier", FakeVerifier)
    monkeypatch.setattr(K, "_kept", None)  # this test's own blocks, not the session's


def test_outside_a_block_each_worker_stops_with_its_grading(fake):
    worker = K.checker(Settings())
    assert worker.pid is not None and not worker.stopped
    again = K.checker(Settings())
    assert again is not worker  # nothing is kept outside a block
    K.release(worker)
    assert worker.stopped and not again.stopped


def test_a_grader_releases_its_cross_check_worker_when_it_closes(fake, spec, data_file):
    from grader.pipeline import Grader

    with K.kept():
        grader = Grader(spec, data_file, Settings(verify=False), launcher=None)
        worker = grader._own_checker()
        grader.close()
        assert not worker.stopped and K.pids() == {worker.pid}  # kept for the next grading
    assert worker.stopped
    grader = Grader(spec, data_file, Settings(verify=False), launcher=None)
    worker = grader._own_checker()
    grader.close()
    assert worker.stopped  # outside a block it stops with its grading


def test_a_worker_in_use_is_not_handed_to_a_second_grading(fake):
    with K.kept():
        first = K.checker(Settings())
        second = K.checker(Settings())  # e.g. another thread's grading, meanwhile
        assert second is not first
        K.release(second)
        assert second.stopped and not first.stopped  # the extra one was not kept
        K.release(first)
        assert K.checker(Settings()) is first


def test_a_worker_retired_while_in_use_stops_only_when_its_grading_releases_it(fake):
    with K.kept():
        busy = K.checker(Settings(verify_memory_bytes=2**30))
        for i in range(K.MAX_KEPT):
            K.release(K.checker(Settings(verify_memory_bytes=(i + 2) * 2**30)))
        assert busy.pid not in K.pids() and not busy.stopped
        K.release(busy)
        assert busy.stopped


def test_inside_a_block_the_same_environment_reuses_one_worker_until_the_block_ends(fake):
    with K.kept():
        first = K.checker(Settings())
        K.release(first)
        again = K.checker(Settings(notebook_timeout=7))  # a timeout is per job, not the worker's
        assert again is first and not first.stopped
        assert K.pids() == {first.pid}
        K.release(again)
        assert not first.stopped
    assert first.stopped and K.pids() == set()


def test_another_memory_limit_gets_another_worker_and_the_least_recent_is_retired(fake):
    with K.kept():
        workers = [K.checker(Settings(verify_memory_bytes=(i + 1) * 2**30))
                   for i in range(K.MAX_KEPT + 1)]
        for worker in workers:
            K.release(worker)
        assert len({id(w) for w in workers}) == K.MAX_KEPT + 1
        assert workers[0].stopped and not any(w.stopped for w in workers[1:])
        assert K.pids() == {w.pid for w in workers[1:]}


def test_nested_blocks_keep_the_workers_until_the_outermost_ends(fake):
    with K.kept():
        with K.kept():
            worker = K.checker(Settings())
            K.release(worker)
        assert not worker.stopped
    assert worker.stopped
