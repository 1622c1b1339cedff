"""The shared helpers each stage uses: a file's digest, a log's tail, library versions."""
import hashlib

from grader.util.files import sha256_bytes, sha256_file, tail, tail_of
from grader.util.versions import package_versions


def test_a_files_digest_is_the_digest_of_its_bytes_even_past_one_block(tmp_path):
    data = bytes(range(256)) * 5000  # over the 1 MiB block read at a time
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_file(path) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_a_log_tail_is_its_last_bytes_and_never_what_came_before_the_start(tmp_path):
    path = tmp_path / "worker.log"
    path.write_bytes(b"alice's secret\n" + b"x" * 50 + b"\nSegmentation fault\n")
    start = len(b"alice's secret\n")
    assert tail_of(path, size=19) == "Segmentation fault\n"
    assert "secret" not in tail_of(path, size=10_000, start=start)
    with open(path, "rb") as log:
        assert tail(log, size=10_000).startswith("alice's secret")


def test_a_missing_log_has_an_empty_tail(tmp_path):
    assert tail_of(tmp_path / "gone.log") == ""


def test_an_undecodable_log_is_read_with_replacement_characters(tmp_path):
    path = tmp_path / "kernel.log"
    path.write_bytes(b"bad \xff byte")
    assert tail_of(path) == "bad \ufffd byte"


def test_versions_name_a_missing_package_as_none_and_each_caller_gets_its_own_dict():
    found = package_versions("pytest", "no-such-package-for-the-grader")
    assert found["pytest"] and found["no-such-package-for-the-grader"] is None
    found["pytest"] = "tampered"
    assert package_versions("pytest", "no-such-package-for-the-grader")["pytest"] != "tampered"
