"""An LMS zip is untrusted: nothing lands outside the extraction folder, every refused entry is
a row of its own while the rest grade, a zip bomb stops with a clear message, names in any
encoding are read, and a rerun extracts nothing. Built in the test (tests/lms_exports.py)."""
from __future__ import annotations

import zipfile

import pytest

from grader.exceptions import UsageError
from grader.intake import archive, sources
from grader.intake.archive import Limits

from tests import lms_exports as ex

SMALL = Limits(max_entry_bytes=8 * 1024**2, ratio_floor_bytes=64 * 1024, max_ratio=100)


@pytest.fixture()
def unpacked(tmp_path):
    zipped = ex.hostile_zip(tmp_path / "hostile.zip")
    return archive.extract(zipped, tmp_path / "out" / "inner", SMALL), tmp_path


def refused_names(result):
    return {r.name for r in result.refused}


def test_nothing_is_written_outside_the_extraction_folder(unpacked):
    result, tmp_path = unpacked
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    assert all(str(p).startswith(("hostile.zip", "out")) for p in written), written
    inside = {p.name for p in result.folder.rglob("*") if not p.name.startswith(".")}
    assert "escaped.ipynb" not in inside and "absolute.ipynb" not in inside
    assert not any(p.is_symlink() for p in result.folder.rglob("*"))


def test_each_trap_is_refused_with_its_reason(unpacked):
    result, _ = unpacked
    reasons = {r.name: r.reason for r in result.refused}
    assert "leaves the archive" in reasons["../escaped.ipynb"]
    assert "leaves the archive" in reasons["sub/../../escaped2.ipynb"]
    assert "leaves the archive" in reasons["/tmp/absolute.ipynb"]
    assert any(n.startswith("C:") for n in reasons)
    assert "symbolic link" in reasons["linked.ipynb"]
    assert "special file" in reasons["device.ipynb"]
    assert "same name" in reasons["ann.ipynb"]
    assert "zip bomb" in reasons["bomb.ipynb"]


def test_names_are_read_in_utf8_flagged_or_not_and_in_cp437(unpacked):
    result, _ = unpacked
    names = {p.name for p in result.folder.iterdir()}
    assert {"José.ipynb", "Zoë.ipynb", "ann.ipynb"} <= names  # cp437 0x82 is é
    assert "bell%07.ipynb" in names  # a control character never reaches a file name


def test_refused_entries_are_rows_and_the_rest_are_submissions(tmp_path):
    zipped = ex.hostile_zip(tmp_path / "hostile.zip")
    gathered = sources.from_archive(zipped, tmp_path / "out", None, SMALL)
    rows = [s for s in gathered.submissions if s.student.startswith("archive-entry-")]
    graded = {s.student for s in gathered.submissions if s.problem is None}
    assert len(rows) == 8 and all(s.problem and s.notebook is None for s in rows)
    assert len({s.student for s in rows}) == 8  # ids unique, duplicates included
    assert {"ann", "José", "Zoë"} <= graded


def test_too_many_entries_stop_the_archive_before_anything_is_written(tmp_path):
    zipped = tmp_path / "many.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for k in range(6):
            zf.writestr(f"s{k}.ipynb", "{}")
    with pytest.raises(UsageError, match="6 entries"):
        archive.extract(zipped, tmp_path / "out", Limits(max_entries=5))
    assert not any((tmp_path / "out" / archive.EXTRACTED).iterdir())


def test_too_many_bytes_in_all_stop_the_archive(tmp_path):
    zipped = tmp_path / "big.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(3):
            zf.writestr(f"s{k}.ipynb", b"\0" * 100_000)
    with pytest.raises(UsageError, match="zip bomb"):
        archive.extract(zipped, tmp_path / "out", Limits(max_total_bytes=250_000))


def test_a_file_that_is_not_a_zip_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    assert not archive.is_archive(bad)
    with pytest.raises(UsageError, match="no such folder or zip"):
        sources.from_folder(bad, None)


def test_a_rerun_extracts_nothing_and_keeps_the_refused_rows(tmp_path):
    zipped = ex.hostile_zip(tmp_path / "hostile.zip")
    first = archive.extract(zipped, tmp_path / "out", SMALL)
    marker_time = (first.folder / archive.MARKER).stat().st_mtime_ns
    again = archive.extract(zipped, tmp_path / "out", SMALL)
    assert again.reused and again.refused == first.refused
    assert (first.folder / archive.MARKER).stat().st_mtime_ns == marker_time


def test_a_half_extracted_folder_is_extracted_again(tmp_path):
    zipped = ex.zip_folder(ex.canvas_export(tmp_path / "e"), tmp_path / "a.zip")
    first = archive.extract(zipped, tmp_path / "out")
    (first.folder / archive.MARKER).unlink()  # a crash before the marker
    (first.folder / "solutionalice_101_9001_cnn2.ipynb").unlink()
    again = archive.extract(zipped, tmp_path / "out")
    assert not again.reused and (again.folder / "solutionalice_101_9001_cnn2.ipynb").is_file()


def test_an_entry_that_clashes_with_a_file_is_refused_not_a_crash(tmp_path):
    zipped = tmp_path / "clash.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("a", "file")
        zf.writestr("a/", "")
        zf.writestr("a/b.ipynb", "{}")
        zf.writestr("ok.ipynb", "{}")
    result = archive.extract(zipped, tmp_path / "out")
    assert refused_names(result) == {"a/", "a/b.ipynb"}
    assert (result.folder / "ok.ipynb").is_file()
