"""Socket folders (``grader.util.sockets``): in the temp dir where a socket's path fits there,
else in a short base; a clear error where none can hold it; stale ones found in both places."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import launcher, zygote
from grader.util import sockets


@pytest.fixture
def short_base():
    """A short folder of this test's own, standing in for /tmp (where the machine has one)."""
    if not os.path.isdir("/tmp"):
        pytest.skip("no /tmp to make a short folder in")
    base = tempfile.mkdtemp(dir="/tmp", prefix="gs-")
    assert sockets.fits(os.path.join(base, "grader-conn-12345678", launcher.KERNEL_SOCKET))
    yield base
    subprocess.run(["rm", "-rf", base], check=False)


@pytest.fixture
def long_tmp(tmp_path, monkeypatch):
    """This process's temp dir, too long for any socket's path in it."""
    folder = tmp_path / ("d" * 60) / ("e" * 40)
    folder.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_path_fits_up_to_the_longest_every_platform_holds():
    assert sockets.fits("/" + "a" * (sockets.MAX_SOCKET_PATH - 1))
    assert not sockets.fits("/" + "a" * sockets.MAX_SOCKET_PATH)


def test_a_socket_folder_is_a_private_one_in_the_temp_dir_where_its_sockets_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = Path(sockets.socket_folder("grader-conn-", "s"))
    assert folder.parent == tmp_path and folder.name.startswith("grader-conn-")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_where_the_temp_dir_is_too_long_it_goes_to_the_first_usable_short_base(long_tmp, short_base,
                                                                               monkeypatch):
    monkeypatch.setattr(sockets, "SHORT_BASES", ("/nonexistent-grader-base", short_base))
    folder = Path(sockets.socket_folder("grader-conn-", launcher.KERNEL_SOCKET))
    assert str(folder.parent) == short_base and folder.stat().st_mode & 0o777 == 0o700
    assert sockets.fits(folder / launcher.KERNEL_SOCKET)


def test_where_no_folder_can_hold_the_sockets_the_error_says_to_shorten_tmpdir(long_tmp, monkeypatch):
    monkeypatch.setattr(sockets, "SHORT_BASES", ("/nonexistent-grader-base",))
    with pytest.raises(sockets.SocketPathTooLong, match=r"too long .* set TMPDIR to a shorter folder"):
        sockets.socket_folder("grader-conn-", launcher.KERNEL_SOCKET)


def test_a_zygote_in_a_long_temp_dir_gets_a_folder_its_socket_fits_in(long_tmp, short_base, monkeypatch):
    monkeypatch.setattr(sockets, "SHORT_BASES", (short_base,))
    made = zygote.Zygote({}, command=(sys.executable, "-c", "pass"))
    try:
        assert str(made.folder.parent) == short_base and sockets.fits(made.socket_path + ".new")
    finally:
        made.close()


def test_stale_zygote_and_socket_folders_in_a_short_base_are_removed(long_tmp, short_base, monkeypatch):
    monkeypatch.setattr(sockets, "SHORT_BASES", (short_base,))
    dead = _dead_pid()
    stale_zygote = Path(short_base) / f"{zygote.PREFIX}stale"
    stale_zygote.mkdir()
    (stale_zygote / zygote.PID_FILE).write_text(str(dead))
    conn = Path(short_base) / f"{launcher.CONN_PREFIX}stale"
    conn.mkdir()
    private = long_tmp / f"{launcher.SESSION_PREFIX}{dead}-stale"
    private.mkdir()
    (private / "conn").write_text(str(conn))
    zygote.remove_stale()
    launcher.remove_stale_sessions()
    assert not stale_zygote.exists() and not conn.exists() and not private.exists()


def test_a_recorded_socket_folder_elsewhere_is_never_removed(long_tmp, tmp_path):
    """A session folder names its socket folder; one outside the temp dir and the short bases
    (a forged record) stays."""
    elsewhere = tmp_path / f"{launcher.CONN_PREFIX}keep"
    elsewhere.mkdir()
    private = long_tmp / f"{launcher.SESSION_PREFIX}{_dead_pid()}-stale"
    private.mkdir()
    (private / "conn").write_text(str(elsewhere))
    launcher.remove_stale_sessions()
    assert elsewhere.is_dir() and not private.exists()


def test_a_socket_folder_left_in_a_short_base_without_its_session_is_removed_once_its_grader_ended(
        long_tmp, short_base, monkeypatch):
    """A killed batch's temp dir (with the session folder that named it) may go first."""
    monkeypatch.setattr(sockets, "SHORT_BASES", (short_base,))
    dead, live = _dead_pid(), os.getpid()
    ended = Path(short_base) / f"{launcher.CONN_PREFIX}{dead}-abcdefgh"
    running = Path(short_base) / f"{launcher.CONN_PREFIX}{live}-abcdefgh"
    for folder in (ended, running):
        folder.mkdir()
    if os.getuid() == 0:  # the root levels hand it to the sandbox's uid
        os.chown(ended, launcher.UID_BASE + 7, launcher.UID_BASE + 7)
    launcher.remove_stale_sessions()
    assert not ended.exists() and running.is_dir()


def test_a_look_alike_of_another_user_in_a_short_base_is_never_removed(long_tmp, short_base, monkeypatch):
    if os.getuid() != 0:
        pytest.skip("only root can give a folder to another user")
    monkeypatch.setattr(sockets, "SHORT_BASES", (short_base,))
    other = Path(short_base) / f"{launcher.CONN_PREFIX}{_dead_pid()}-abcdefgh"
    other.mkdir()
    os.chown(other, 4242, 4242)  # neither this user's nor a sandbox's
    launcher.remove_stale_sessions()
    assert other.is_dir()
