"""Data provisioning: explicit path, environment, cache, then a verified download."""
import functools
import http.server
import threading
from pathlib import Path

import pytest

from grader.cli import main
from grader.exceptions import DataUnavailable
from grader.exercise.spec import Spec
from grader.intake import data
from grader.util.files import sha256_file


@pytest.fixture
def serve(tmp_path):
    """serve(bytes) -> URL of a file on a throwaway HTTP server bound to 127.0.0.1."""
    servers = []

    def start(content: bytes) -> str:
        root = tmp_path / f"www{len(servers)}"
        root.mkdir()
        (root / "mnist_4000.pkl.gz").write_bytes(content)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/mnist_4000.pkl.gz"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def info(spec: Spec) -> dict:
    return spec.data


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADER_DATA", raising=False)
    monkeypatch.delenv("GRADER_DATA_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_an_explicit_path_wins_over_the_environment(info, data_file, monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_DATA", str(tmp_path / "nowhere.pkl.gz"))
    assert data.resolve(info, data_file) == data_file


def test_the_environment_variable_is_used_next(info, data_file, monkeypatch):
    monkeypatch.setenv("GRADER_DATA", str(data_file))
    assert data.resolve(info) == data_file


def test_a_file_with_another_checksum_is_refused(info, tmp_path):
    fake = tmp_path / "mnist_4000.pkl.gz"
    fake.write_bytes(b"not the data")
    with pytest.raises(DataUnavailable, match="sha256"):
        data.resolve(info, fake)


def test_the_download_lands_verified_in_the_cache_and_is_reused(info, data_file, serve, tmp_path):
    url = serve(data_file.read_bytes())
    path = data.resolve(info, url=url)
    assert path == data.cache_dir() / "mnist_4000.pkl.gz"
    assert sha256_file(path) == info["sha256"]
    assert data.resolve(info, url="http://127.0.0.1:9/unused") == path  # cache hit, no download


def test_a_corrupted_download_is_rejected_and_not_cached(info, data_file, serve):
    corrupted = bytearray(data_file.read_bytes())
    corrupted[1000] ^= 0xFF
    with pytest.raises(DataUnavailable, match="does not match"):
        data.resolve(info, url=serve(bytes(corrupted)))
    assert not (data.cache_dir() / "mnist_4000.pkl.gz").exists()
    assert list(data.cache_dir().iterdir()) == []  # no partial download left behind


def test_offline_without_data_names_both_ways_to_provide_it(info):
    with pytest.raises(DataUnavailable) as caught:
        data.resolve(info, url="http://127.0.0.1:9/mnist_4000.pkl.gz")
    assert "--data" in caught.value.message and "GRADER_DATA" in caught.value.message


def test_the_cli_exits_5_with_one_clear_line_when_no_data(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GRADER_DATA_URL", "http://127.0.0.1:9/mnist_4000.pkl.gz")
    notebook = Path(__file__).parent.parent / "submissions" / "alice_solution.ipynb"
    code = main(["check", str(notebook), "--sandbox", "off"])
    err = capsys.readouterr().err
    assert code == 5
    assert err.count("\n") == 1 and "GRADER_DATA" in err and "Traceback" not in err


def test_seeding_the_cache_lets_later_runs_work_offline(info, data_file):
    cached = data.seed_cache(info, data_file)
    assert cached.parent == data.cache_dir() and sha256_file(cached) == info["sha256"]
    assert data.resolve(info, url="http://127.0.0.1:9/offline") == cached
