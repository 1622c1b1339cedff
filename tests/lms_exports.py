"""LMS exports of the sample notebooks, built in the test, never copied from a real class.

The layouts follow each LMS's documented naming (docs/lms-intake.md): Canvas's flat
``<name>_[LATE_]<user id>_<submission id>_<file>``, Moodle's ``<Full Name>_<participant
id>_assignsubmission_file_/`` folders (or flat files) and grading worksheet, Gradescope's
``assignment_<id>_export/`` with ``submission_metadata.yml`` and ``submission_<id>/`` folders.
``hostile_zip`` adds every archive trap a zip can hold.
"""
from __future__ import annotations

import csv
import stat
import warnings
import zipfile
from pathlib import Path

from tests.conftest import ROOT

SAMPLES = ROOT / "submissions"
SOLUTION = SAMPLES / "alice_solution.ipynb"
NO_PADDING = SAMPLES / "bob_no_padding.ipynb"
NOTHING = SAMPLES / "ivan_nothing_added.ipynb"

#: (full name, Canvas user id, Moodle participant id, Gradescope SID, email)
PEOPLE = [("Alice Solution", "101", "501", "S1001", "alice@example.edu"),
          ("Bob No-Padding", "102", "502", "S1002", "bob@example.edu"),
          ("Ivan Nothing", "103", "503", "S1003", "ivan@example.edu")]


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())


def canvas_export(folder: Path) -> Path:
    """Alice resubmitted (the first upload is the untouched template, the newer the solution),
    Bob was late, Ivan submitted the template."""
    _copy(NOTHING, folder / "solutionalice_101_9001_cnn2.ipynb")
    _copy(SOLUTION, folder / "solutionalice_101_9001_cnn2-1.ipynb")
    _copy(NO_PADDING, folder / "nopaddingbob_LATE_102_9002_08_cnn2_mnist.ipynb")
    _copy(NOTHING, folder / "nothingivan_103_9003_cnn2.ipynb")
    return folder


def canvas_roster(path: Path) -> Path:
    from tests import rosters
    return rosters.canvas_roster(path, [(n, uid, sid, email.split("@")[0])
                                        for n, uid, _pid, sid, email in PEOPLE])


def moodle_export(folder: Path, folders: bool = True) -> Path:
    """"Download submissions in folders" on (default) or off (flat files)."""
    for (name, _uid, pid, _sid, _email), src in zip(PEOPLE, (SOLUTION, NO_PADDING, NOTHING), strict=True):
        prefix = f"{name}_{pid}_assignsubmission_file_"
        _copy(src, folder / prefix / "cnn2.ipynb" if folders else folder / f"{prefix}cnn2.ipynb")
    (folder / f"{PEOPLE[0][0]}_{PEOPLE[0][2]}_assignsubmission_onlinetext_onlinetext.html") \
        .write_text("<p>see my notebook</p>")
    return folder


def moodle_worksheet(path: Path) -> Path:
    """Assignment → Download grading worksheet (its column layout, made-up people)."""
    rows = [["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
             "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
             "Feedback comments"]]
    rows += [[f"Participant {pid}", name, email, "Submitted for grading", "", "22.00", "Yes",
              "Monday, 1 December 2026, 10:00 AM", "-", ""]
             for name, _uid, pid, _sid, email in PEOPLE]
    return _write(path, rows)


def gradescope_export(folder: Path) -> Path:
    """One folder per submission and the metadata file, with Ruby symbols and a Ruby tag."""
    root = folder / "assignment_77_export"
    lines = []
    times = ("2026-12-01 10:00:00.123456789 +01:00", "2026-12-03 09:30:00.000000000 +01:00",
             "2026-12-01 11:00:00.000000000 +01:00")
    for k, ((name, _uid, _pid, sid, email), src) in enumerate(
            zip(PEOPLE, (SOLUTION, NO_PADDING, NOTHING), strict=True)):
        _copy(src, root / f"submission_{3000 + k}" / "work" / "cnn2.ipynb")
        lines += [f"submission_{3000 + k}:", "  :submitters:", f"  - :name: {name}",
                  f"    :sid: '{sid}'", f"    :email: {email}", f"  :created_at: {times[k]}",
                  "  :score: !ruby/object:BigDecimal 18:0.0", "  :history: []"]
    (root / "submission_metadata.yml").write_text("\n".join(lines) + "\n")
    return folder


def gradescope_roster(path: Path) -> Path:
    rows = [["First Name", "Last Name", "SID", "Email", "Role", "Sections"]]
    rows += [[*name.split(" ", 1), sid, email, "Student", ""]
             for name, _uid, _pid, sid, email in PEOPLE]
    return _write(path, rows)


def _write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive


class RawName(zipfile.ZipInfo):
    """An entry whose name bytes are written as given, flag bit 11 as given (real zippers
    write cp437 or UTF-8 without the flag)."""

    def __init__(self, name: str, raw: bytes, utf8_flag: bool = False) -> None:
        super().__init__(name)
        self.raw, self.utf8_flag = raw, utf8_flag

    def _encodeFilenameFlags(self):  # noqa: N802 -- zipfile's own name
        return self.raw, self.flag_bits | (0x800 if self.utf8_flag else 0)


def link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def hostile_zip(archive: Path, good: Path = NOTHING) -> Path:
    """Two good notebooks beside every trap: traversal, absolute, a link, a device, a
    duplicate, cp437 and unflagged UTF-8 names, a control character, a highly compressed
    entry (the bomb is sized by the test's limits)."""
    data = good.read_bytes()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ann.ipynb", data)
        zf.writestr("../escaped.ipynb", data)
        zf.writestr("sub/../../escaped2.ipynb", data)
        zf.writestr("/tmp/absolute.ipynb", data)
        zf.writestr("C:\\\\windows.ipynb", data)
        zf.writestr(link("linked.ipynb", "/etc/passwd"), "/etc/passwd")
        dev = zipfile.ZipInfo("device.ipynb")
        dev.create_system, dev.external_attr = 3, (stat.S_IFCHR | 0o644) << 16
        zf.writestr(dev, "")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is asked for
            zf.writestr("ann.ipynb", data)  # a second entry of the same name
        zf.writestr(RawName("Jos\x82.ipynb", b"Jos\x82.ipynb"), data)  # cp437 é, no flag
        zf.writestr(RawName("Zoë.ipynb", "Zoë.ipynb".encode()), data)  # UTF-8, no flag
        zf.writestr("bell\x07.ipynb", data)
        zf.writestr("bomb.ipynb", b"\0" * (4 * 1024**2))
    return archive
