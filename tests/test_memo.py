"""The verification memo behind a store: ``get(key) -> dict | None`` and ``put(key, dict)``.

No training here: the Verifier's own training step is replaced, so these run in a second and
show what the Verifier asks of any store (one that travels between machines included).
"""
from __future__ import annotations

import json

import pytest

from grader.exceptions import LimitExceeded
from grader.settings import Settings
from grader.verify.memo import DirectoryMemo, MemoryMemo, MemoStore, NoMemo, memo_for
from grader.verify.verifier import Verifier, job_key

KEY = "ab" * 32
JOB = {"layers": [{"kind": "Dense", "args": {"units": 10}}], "input_shape": [None, 784],
       "epochs": 1, "batch_size": 128, "seed": 1, "data_sha256": "00", "data_file": "/x"}
TRAINED = {"val_accuracy": 0.93, "epochs": 1, "history": {"loss": [0.5]}}


class Untrained(AssertionError):
    """Raised by a Verifier that was asked to train although its store had the answer."""


def no_training(job, settings):
    raise Untrained("trained although the store held this architecture")


def key_of(verifier: Verifier, job: dict) -> str:
    """The key under which ``verifier`` stores ``job`` (its own thread count is part of it)."""
    return job_key({**job, "threads": int(verifier.settings.tf_threads)})


@pytest.mark.parametrize("store", [MemoryMemo(), "folder"], ids=["memory", "folder"])
def test_a_store_gives_back_what_was_put_as_a_copy(store, tmp_path):
    store = DirectoryMemo(tmp_path / "memo") if store == "folder" else store
    assert isinstance(store, MemoStore) and store.get(KEY) is None
    store.put(KEY, TRAINED)
    found = store.get(KEY)
    assert found == TRAINED
    found["val_accuracy"] = 0.0
    assert store.get(KEY) == TRAINED


def test_the_folder_store_keeps_one_json_file_per_entry_and_treats_garbage_as_a_miss(tmp_path):
    store = DirectoryMemo(tmp_path)
    store.put(KEY, TRAINED)
    assert json.loads((tmp_path / f"{KEY}.json").read_text()) == TRAINED
    (tmp_path / f"{KEY}.json").write_text("{not json")
    assert store.get(KEY) is None
    (tmp_path / f"{KEY}.json").write_text("[1, 2]")
    assert store.get(KEY) is None


def test_the_folder_store_never_makes_a_file_name_from_a_key_that_is_not_a_digest(tmp_path):
    with pytest.raises(ValueError):
        DirectoryMemo(tmp_path / "memo").put("../../outside", TRAINED)
    assert not (tmp_path / "outside.json").exists()


def test_a_read_only_folder_store_loses_the_entry_quietly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    store = DirectoryMemo(blocker / "memo")
    store.put(KEY, TRAINED)
    assert store.get(KEY) is None


def test_a_folder_option_chooses_the_folder_store_or_none(tmp_path):
    assert isinstance(memo_for(tmp_path), DirectoryMemo) and isinstance(memo_for(None), NoMemo)
    NoMemo().put(KEY, TRAINED)
    assert NoMemo().get(KEY) is None


def test_a_verifier_answers_from_its_store_without_training():
    store = MemoryMemo()
    verifier = Verifier(Settings(tf_threads=2), memo=store)
    store.put(key_of(verifier, JOB), TRAINED)
    verifier._train = no_training
    found = verifier.train(JOB)
    assert found["val_accuracy"] == 0.93 and found["cached"] is True
    assert verifier.hits == 1 and verifier.trainings == 0


def test_a_trained_architecture_is_put_in_the_store_for_other_verifiers():
    store, settings = MemoryMemo(), Settings(tf_threads=2)
    first = Verifier(settings, memo=store)
    first._train = lambda job, settings: dict(TRAINED)
    assert first.train(JOB)["cached"] is False
    assert store.get(key_of(first, JOB)) == TRAINED
    second = Verifier(settings, memo=store)
    second._train = no_training
    assert second.train(JOB) == {**TRAINED, "cached": True, "source": "memo"}


def test_a_limit_hit_is_remembered_in_the_process_but_never_put_in_the_store():
    store = MemoryMemo()
    verifier = Verifier(Settings(), memo=store)

    def too_slow(job, settings):
        raise LimitExceeded("too slow", kind="timeout", limit=settings.verify_timeout)
    verifier._train = too_slow
    with pytest.raises(LimitExceeded):
        verifier.train(JOB)
    assert store.entries == {}
    verifier._train = no_training
    with pytest.raises(LimitExceeded):  # answered from the process's own memo
        verifier.train(JOB)


class Broken:
    """A store whose machine went away: every call fails."""

    def get(self, key):
        raise ConnectionError("store unreachable")

    def put(self, key, entry):
        raise ConnectionError("store unreachable")


class Garbled:
    """A store that gives back something other than a training."""

    def get(self, key):
        return {"unexpected": True}

    def put(self, key, entry):
        pass


@pytest.mark.parametrize("store", [Broken(), Garbled()], ids=["broken", "garbled"])
def test_a_failing_or_garbled_store_costs_a_training_never_a_result(store):
    verifier = Verifier(Settings(), memo=store)
    verifier._train = lambda job, settings: dict(TRAINED)
    assert verifier.train(JOB) == {**TRAINED, "cached": False, "source": "trained"}
