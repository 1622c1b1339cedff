"""The verification memo kept between runs (``grader.verify.persistent``): where it lives, what
its key covers, and that nothing it reads back is trusted unchecked.

No training here (the Verifier's training step is replaced); the store is always a folder under
``tmp_path``, never the user's cache.
"""
from __future__ import annotations

import json
import multiprocessing
import platform
from dataclasses import replace
from pathlib import Path

import pytest

from grader.cli import parser, settings_from
from grader.settings import Settings
from grader.verify import keys, persistent
from grader.verify.memo import DirectoryMemo, NoMemo
from grader.verify.persistent import FORMAT, PersistentMemo, WriteOnly, folder_for, store_for
from grader.verify.verifier import Verifier, default_store, job_key

KEY, OTHER = "ab" * 32, "cd" * 32
JOB = {"layers": [{"kind": "Dense", "args": {"units": 10}}], "input_shape": [None, 784],
       "epochs": 1, "batch_size": 128, "seed": 1, "learning_rate": 0.001, "bn_images": 512,
       "split": {"train": [0, 10], "validation": [10, 20]}, "classes": 10,
       "data_sha256": "00" * 32, "data_file": "/x", "threads": 2}
TRAINED = {"val_accuracy": 0.93, "epochs": 1, "curves": {"val_accuracy": [0.93]}}


def no_training(job, settings):
    raise AssertionError("trained although the memo kept between runs held this architecture")


# -- where it lives ------------------------------------------------------------------------------

def test_by_default_the_memo_lives_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADER_MEMO", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert folder_for("auto") == tmp_path / "cache" / "cnn-grader" / "memo"
    assert isinstance(default_store(Settings()), PersistentMemo)


@pytest.mark.parametrize("off", ["off", "OFF", "none"])
def test_the_environment_relocates_or_disables_it_and_an_explicit_choice_wins(monkeypatch,
                                                                             tmp_path, off):
    monkeypatch.setenv("GRADER_MEMO", str(tmp_path / "elsewhere"))
    assert folder_for("auto") == tmp_path / "elsewhere"
    assert folder_for(str(tmp_path / "mine")) == tmp_path / "mine"
    monkeypatch.setenv("GRADER_MEMO", off)
    assert folder_for("auto") is None and store_for("auto") is None
    assert isinstance(default_store(Settings()), NoMemo)
    assert folder_for(off) is None


def test_without_a_home_folder_there_is_no_memo_rather_than_an_error(monkeypatch):
    monkeypatch.delenv("GRADER_MEMO", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    assert folder_for("auto") is None and isinstance(default_store(Settings()), NoMemo)


def test_a_batch_folder_given_explicitly_is_used_as_it_always_was(tmp_path):
    assert isinstance(default_store(Settings(memo=str(tmp_path / "kept")), tmp_path / "batch"),
                      DirectoryMemo)


@pytest.mark.parametrize("command", ["check", "grade", "calibrate"])
def test_the_memo_option_reaches_the_settings(command, tmp_path):
    args = parser().parse_args([command, *([] if command == "calibrate" else ["x"]),
                                "--memo", "off"])
    assert args.memo == "off"
    if command != "calibrate":
        assert settings_from(args).memo == "off"
        assert parser().parse_args([command, "x"]).memo == "auto"


# -- what it keeps and what it refuses -----------------------------------------------------------

def test_an_entry_comes_back_after_the_process_that_wrote_it_is_gone(tmp_path):
    PersistentMemo(tmp_path).put(KEY, TRAINED)
    assert PersistentMemo(tmp_path).get(KEY) == TRAINED
    envelope = json.loads((tmp_path / f"{KEY}.json").read_text())
    assert envelope["format"] == FORMAT and envelope["key"] == KEY


def tamper_truncated(path: Path) -> None:
    path.write_text(path.read_text()[:40])


def tamper_number(path: Path) -> None:  # a flipped digit: valid JSON, wrong content
    path.write_text(path.read_text().replace("0.93", "0.99"))


def tamper_foreign(path: Path) -> None:  # another architecture's entry under this name
    other = PersistentMemo(path.parent)
    other.put(OTHER, {**TRAINED, "val_accuracy": 0.11})
    path.write_text((path.parent / f"{OTHER}.json").read_text())


def tamper_format(path: Path) -> None:
    envelope = json.loads(path.read_text())
    path.write_text(json.dumps({**envelope, "format": "something else 9"}))


def tamper_bare(path: Path) -> None:  # a batch folder's bare entry (no envelope)
    path.write_text(json.dumps(TRAINED))


def tamper_not_a_training(path: Path) -> None:  # consistent checksum, impossible accuracy
    entry = {**TRAINED, "val_accuracy": 7.0}
    path.write_text(json.dumps({"format": FORMAT, "key": KEY, "entry": entry,
                                "sha256": persistent.checksum(entry)}))


@pytest.mark.parametrize("tamper", [tamper_truncated, tamper_number, tamper_foreign,
                                    tamper_format, tamper_bare, tamper_not_a_training])
def test_a_corrupt_truncated_or_foreign_entry_is_a_miss_and_is_replaced(tmp_path, tamper):
    store = PersistentMemo(tmp_path)
    store.put(KEY, TRAINED)
    tamper(tmp_path / f"{KEY}.json")
    assert store.get(KEY) is None
    verifier = Verifier(Settings(tf_threads=2), memo=store)
    verifier._train = lambda job, settings: dict(TRAINED)
    key = job_key(JOB)
    (tmp_path / f"{key}.json").write_bytes((tmp_path / f"{KEY}.json").read_bytes())
    assert verifier.train(JOB)["source"] == "trained"  # the bad entry cost one training
    assert store.get(key) == TRAINED  # and was replaced


def test_an_entry_that_is_not_a_training_is_never_written(tmp_path):
    store = PersistentMemo(tmp_path)
    store.put(KEY, {"val_accuracy": float("nan"), "epochs": 1})
    store.put("../escape", TRAINED)
    assert list(tmp_path.iterdir()) == []


def _hammer(folder: str, value: float) -> None:
    store = PersistentMemo(Path(folder))
    for _ in range(100):
        store.put(KEY, {**TRAINED, "val_accuracy": value})


def test_concurrent_writers_never_leave_half_an_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_hammer, args=(str(tmp_path), v)) for v in (0.25, 0.75)]
    for w in writers:
        w.start()
    store, seen = PersistentMemo(tmp_path), set()
    while any(w.is_alive() for w in writers):
        found = store.get(KEY)
        if found is not None:
            seen.add(found["val_accuracy"])
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert store.get(KEY)["val_accuracy"] in (0.25, 0.75) and seen <= {0.25, 0.75}
    assert [p.name for p in tmp_path.iterdir()] == [f"{KEY}.json"]  # no temporary left over


def test_past_its_size_the_least_recently_used_entries_go(tmp_path):
    store = PersistentMemo(tmp_path, max_entries=2)
    store.put("01" * 32, TRAINED)
    store.put("02" * 32, TRAINED)
    import os
    os.utime(tmp_path / f"{'01' * 32}.json", (1, 1))
    os.utime(tmp_path / f"{'02' * 32}.json", (2, 2))
    store.get("01" * 32)  # used now: kept
    store.put("03" * 32, TRAINED)
    assert sorted(p.stem for p in tmp_path.iterdir()) == ["01" * 32, "03" * 32]


# -- the key: everything that determines the result -----------------------------------------------

@pytest.mark.parametrize("change", [
    {"threads": 1}, {"seed": 2}, {"epochs": 2}, {"batch_size": 64}, {"learning_rate": 0.01},
    {"data_sha256": "11" * 32}, {"layers": [{"kind": "Dense", "args": {"units": 11}}]},
    {"input_shape": [None, 28, 28, 1]}, {"split": {"train": [0, 11], "validation": [11, 20]}},
    {"bn_images": 256}, {"classes": 9}], ids=lambda c: next(iter(c)))
def test_the_key_changes_with_every_setting_of_the_job(change):
    assert job_key({**JOB, **change}) != job_key(JOB)
    assert job_key({**JOB, "data_file": "/elsewhere"}) == job_key(JOB)


def test_the_key_changes_with_the_libraries_the_training_code_and_the_machine(monkeypatch):
    before = job_key(JOB)
    for target, value in ((keys, "package_versions"), (keys, "code_fingerprint"),
                          (keys.platform, "machine"), (keys, "cpu_isa")):
        original = getattr(target, value)
        monkeypatch.setattr(target, value, lambda *a, _o=original: {"changed": str(_o(*a))})
        assert job_key(JOB) != before, value
        monkeypatch.setattr(target, value, original)
    assert job_key(JOB) == before


def test_the_numeric_settings_the_worker_inherits_are_part_of_the_key_and_log_levels_are_not(
        monkeypatch):
    changing = (("TF_ENABLE_ONEDNN_OPTS", "0"), ("OMP_NUM_THREADS", "3"), ("MKL_CBWR", "AVX2"))
    for name, _ in changing:  # a test process may have them (Dask sets OMP_NUM_THREADS=1)
        monkeypatch.delenv(name, raising=False)
    before = job_key(JOB)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    assert job_key(JOB) == before
    for name, value in changing:
        monkeypatch.setenv(name, value)
        assert job_key(JOB) != before, name
        monkeypatch.delenv(name)
        assert job_key(JOB) == before


def test_the_instruction_sets_are_read_from_the_cpu():
    found = keys.cpu_isa()
    assert set(found) <= set(keys.ISA_FLAGS)
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":
        assert "sse4_2" in found  # every x86-64 TensorFlow runs on has it


def test_where_tensorflow_chooses_its_threads_the_cores_it_has_are_part_of_the_key(monkeypatch):
    job = {**JOB, "threads": 0}
    monkeypatch.setattr(keys, "usable_cpus", lambda: 2)
    two = job_key(job)
    monkeypatch.setattr(keys, "usable_cpus", lambda: 8)
    assert job_key(job) != two and job_key(JOB) == job_key(JOB)


def test_the_code_fingerprint_covers_the_training_worker():
    package = Path(keys.__file__).resolve().parents[1]
    assert all((package / name).is_file() for name in keys.TRAINING_CODE)
    assert "verify/worker.py" in keys.TRAINING_CODE and len(keys.code_fingerprint()) == 64


# -- who fills it and who says where a number came from -------------------------------------------

def test_a_second_run_answers_from_the_kept_memo_and_says_so(tmp_path):
    settings = Settings(tf_threads=2, memo=str(tmp_path))
    first = Verifier(settings)
    first._train = lambda job, settings: dict(TRAINED)
    assert first.train(JOB)["source"] == "trained"
    second = Verifier(settings)  # a later run: a fresh process would build the same
    second._train = no_training
    found = second.train(JOB)
    assert found["source"] == "memo" and found["cached"] and found["val_accuracy"] == 0.93


def test_calibration_trains_afresh_and_leaves_the_graded_seed_in_the_memo(tmp_path, spec,
                                                                         monkeypatch):
    from grader.exercise import calibrate as cal

    trained = []

    def fake_train(self, job, settings):
        trained.append(job["seed"])
        return {**TRAINED, "val_accuracy": 0.9 + job["seed"] / 100, "seconds": 1.0,
                "peak_rss_bytes": 1}
    monkeypatch.setattr(Verifier, "_train", fake_train)
    settings = Settings(memo=str(tmp_path), tf_threads=2)
    store = PersistentMemo(tmp_path)
    plan = cal.Plan(seeds=(3, 4), epochs=1)
    for _ in range(2):  # twice: the second calibration trains again (a measurement)
        training = cal.calibrate(spec, Path("/data"), settings, plan)
    assert trained == [3, 4, 3, 4] and len(list(tmp_path.iterdir())) == 2
    graded = replace(spec, training=training)
    from grader.verify.verifier import make_job
    job = make_job(spec.ref_layers, tuple(spec.input_shape), graded, Path("/data"), settings)
    checker = Verifier(settings)
    checker._train = no_training
    assert checker.train(job)["val_accuracy"] == 0.93 and store.get(job_key(job)) is not None


def test_a_write_only_memo_reads_nothing(tmp_path):
    store = PersistentMemo(tmp_path)
    store.put(KEY, TRAINED)
    assert WriteOnly(store).get(KEY) is None
    WriteOnly(store).put(OTHER, TRAINED)
    assert store.get(OTHER) == TRAINED
