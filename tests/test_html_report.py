"""The HTML report and index, rendered from Result objects (no kernel, no browser)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from grader.render import html, plots, view
from grader.result import Status

from tests import reports


class Elements(HTMLParser):
    """Text of each element, with its tag and attributes, for asserting what a page shows."""

    VOID = {"meta", "img", "br", "link", "input", "rect", "hr"}

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.found: list[dict] = []
        self._open: list[dict] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th", "tr", "br", "li", "p", "div"):
            self.handle_data(" ")  # cells and lines read apart, as on screen
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.found.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self._open):
            while self._open.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def with_class(self, name: str) -> list[str]:
        return [" ".join(e["text"].split()) for e in self.found
                if name in (e["attrs"].get("class") or "").split()]

    def by_id(self, ident: str) -> dict | None:
        return next((e for e in self.found if e["attrs"].get("id") == ident), None)

    def tags(self, tag: str) -> list[dict]:
        return [e for e in self.found if e["tag"] == tag]


def page(result) -> Elements:
    return Elements(html.render_report(result))


def test_a_passing_report_shows_the_verdict_the_score_and_the_summary(spec):
    result = reports.passing(spec)
    p = page(result)
    assert "PASSED" in p.by_id("verdict")["text"]
    assert p.by_id("score")["text"].strip() == f"{result.score:g} / {result.max_score:g} points"
    assert result.summary in p.by_id("summary")["text"]
    assert p.with_class("mismatch") == []


def test_a_wrong_layer_shows_expected_beside_actual_highlighted_with_its_hint(spec):
    p = page(reports.no_padding(spec))
    assert "FAILED" in p.by_id("verdict")["text"]
    assert "did you forget padding='same'?" in p.by_id("summary")["text"]
    highlighted = p.with_class("mismatch")
    assert "✗ (None, 12, 12, 64)" in highlighted  # the added Conv2D's output shape
    assert "Conv2D(64, 3x3) (name: conv2d_3)" in highlighted  # the layer itself, without padding
    card = next(e for e in p.tags("article") if "Added layer 1 of 4" in e["text"])
    assert "(None, 14, 14, 64)" in card["text"] and "did you forget padding='same'?" in card["text"]


def test_a_missing_layer_is_one_gap_row_not_a_cascade(spec):
    p = page(reports.no_pooling(spec))
    assert p.with_class("gap") == ["— missing in your network —"]
    statuses = p.with_class("status")
    assert len(statuses) == len(spec.layers)
    assert sum(s.startswith("✗") for s in statuses) <= 3  # the gap and its consequences only


def test_totals_show_trainable_and_non_trainable_beside_the_reference(spec):
    p = page(reports.no_padding(spec))
    table = next(e for e in p.tags("table") if "totals" in e["attrs"].get("class", ""))
    text = " ".join(table["text"].split())
    assert "Trainable 528,786 695,186" in text
    assert "Non-trainable 784 784" in text
    assert "Total 529,570 695,970" in text


def test_training_shows_the_accuracy_against_its_range_and_both_runs_plotted(spec):
    p = page(reports.passing(spec))
    assert "0.931" in p.by_id("accuracy")["text"] and "0.880 and 1.000" in p.by_id("accuracy")["text"]
    for plot in ("plot-verification", "plot-student"):
        assert p.by_id(plot)["attrs"]["src"].startswith("data:image/svg+xml;base64,")
    assert "not trusted" in p.by_id("training")["text"]


def test_without_verification_the_report_says_accuracy_was_not_graded(spec):
    p = page(reports.no_padding(spec))
    assert "did not run" in p.by_id("no-training")["text"]
    assert p.by_id("plot-verification") is None
    assert p.by_id("plot-student") is not None  # the student's own run is still shown


def test_an_error_report_shows_the_cell_the_line_the_traceback_and_what_to_do(spec):
    result = reports.error(spec)
    p = page(result)
    assert "NOT GRADED" in p.by_id("verdict")["text"]
    assert "cell 8" in p.by_id("error")["text"] and "line 3" in p.by_id("error")["text"]
    assert p.with_class("bad")[-1].startswith("3model.add(MaxPoolling2D")  # line number, then code
    traceback = p.by_id("traceback")["text"]
    assert "NameError: name 'MaxPoolling2D' is not defined" in traceback and "\x1b" not in traceback
    assert "Restart & Run All" in p.by_id("advice")["text"]
    assert p.by_id("added") is None and p.by_id("architecture") is None


@pytest.mark.parametrize("build", [reports.hostile_failing, reports.hostile_error])
def test_markup_from_a_submission_is_shown_as_text_and_never_as_markup(spec, build):
    result = build(spec)
    source = html.render_report(result) + html.render_index([result])
    p = Elements(source)
    assert not [e for e in p.tags("script") if "__pwned" in e["text"]]
    assert not [e for e in p.tags("img") if "onerror" in e["attrs"]]
    assert "&lt;script&gt;window.__pwned" in source or "&lt;img src=x onerror" in source
    shown = " ".join(e["text"] for e in p.tags("body"))
    assert reports.SCRIPT in shown or reports.IMG in shown


def test_pages_load_nothing_and_allow_only_their_own_style_and_script(spec):
    for source in (html.render_report(reports.passing(spec)), html.render_index([reports.passing(spec)])):
        p = Elements(source)
        assert all(img["attrs"]["src"].startswith("data:") for img in p.tags("img"))
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", source)
        policy = next(m["attrs"]["content"] for m in p.tags("meta")
                      if m["attrs"].get("http-equiv") == "Content-Security-Policy")
        assert "default-src 'none'" in policy
        assert html._sha256(p.tags("style")[0]["text"]) in policy
        for script in p.tags("script"):
            assert html._sha256(script["text"]) in policy
    assert Elements(html.render_report(reports.passing(spec))).tags("script") == []


def test_the_index_counts_statuses_plots_scores_and_links_each_report(spec):
    results = [reports.passing(spec), reports.no_padding(spec), reports.error(spec)]
    p = Elements(html.render_index(results))
    counts = " ".join(p.by_id("counts")["text"].split())
    assert "1 passed 1 failed 1 error 0 timeout" == counts
    assert p.by_id("plot-scores")["attrs"]["src"].startswith("data:image/svg+xml;base64,")
    links = {a["text"]: a["attrs"]["href"] for a in p.tags("a")}
    assert links == {r.submission: f"./{r.submission}.html" for r in results}
    rows = [e["text"] for e in p.tags("tr") if "bob_no_padding" in e["text"]]
    # the table column names the student's mistake in words, not the first failed check
    assert rows and all("Conv2D without padding='same'" in text for text in rows)
    assert not any("Added layer 1 of 4" in text for text in rows)


def test_an_index_link_never_becomes_a_url_with_a_scheme(spec):
    result = reports.passing(spec)
    result.submission = "javascript:alert(1)"
    p = Elements(html.render_index([result]))
    assert p.tags("a")[0]["attrs"]["href"] == "./javascript%3Aalert%281%29.html"


def test_writing_a_report_and_an_index_gives_complete_files(spec, tmp_path):
    result = reports.no_padding(spec)
    report = html.write_report(result, tmp_path / "out" / "bob.html")
    index = html.write_index([result], tmp_path / "out")
    assert report.read_text().rstrip().endswith("</html>")
    assert index == tmp_path / "out" / "index.html" and "bob_no_padding" in index.read_text()


def test_colour_codes_and_control_characters_are_removed():
    assert view.plain("\x1b[0;31mNameError\x1b[0m: x\x07\x1b]0;title\x07") == "NameError: x"


def test_a_history_keeps_known_curves_only_and_finite_numbers_only():
    found = plots.series({"acc": [0.5, float("nan"), 0.7], "val_loss": ["x", 1e300, 0.3],
                          "<b>": [1.0], "loss": "not a list", "val_accuracy": [True]})
    assert list(found) == ["accuracy", "loss"]
    assert found["accuracy"]["training"][0] == 0.5 and found["accuracy"]["training"][1] != 0.5
    assert found["loss"] == {"validation": [pytest.approx(v, nan_ok=True) for v in
                                            (float("nan"), float("nan"), 0.3)]}


def test_a_result_from_the_verifier_is_read_from_its_curves(spec):
    result = reports.passing(spec)
    result.training = {"val_accuracy": 0.9, "range": [0.88, 1.0], "curves": reports.CURVES,
                       "epochs": 3, "seconds": 12.0, "seed": 1}
    shown = view.training(result)
    assert shown["measured"] == 0.9 and shown["gauge"]["inside"] and shown["plot"]["uri"]


@pytest.mark.kernel
def test_grader_check_report_writes_the_report_of_the_notebook(data_file, write_notebook, tmp_path, capsys):
    from grader.cli import main

    from tests.notebooks import MISTAKES, model_only_notebook

    notebook = write_notebook(model_only_notebook(MISTAKES["no_padding"]), "bob")
    report = tmp_path / "feedback" / "bob.html"
    code = main(["check", str(notebook), "--sandbox", "off", "--no-verify", "--data", str(data_file),
                 "--report", str(report)])
    capsys.readouterr()
    p = Elements(report.read_text())
    assert code == 1 and "FAILED" in p.by_id("verdict")["text"]
    assert "did you forget padding='same'?" in p.by_id("summary")["text"]


def test_a_limit_hit_after_the_structure_checks_shows_both_the_error_and_the_checks(spec):
    result = reports.no_padding(spec)
    result.status = Status.TIMEOUT
    result.error = reports.error(spec).error
    result.error.traceback = "x" * (view.MAX_TRACEBACK_CHARS + 500) + "\nTimeoutError: too slow"
    p = page(result)
    assert "NOT GRADED" in p.by_id("verdict")["text"]
    assert p.by_id("added") is not None and p.by_id("error") is not None
    traceback = p.by_id("traceback")["text"]
    assert traceback.endswith("TimeoutError: too slow") and len(traceback) < view.MAX_TRACEBACK_CHARS + 100


@pytest.mark.parametrize("source", ["trained", "memo", None])
def test_the_report_says_when_the_accuracy_was_remembered_rather_than_trained_now(spec, source):
    result = reports.passing(spec)
    assert isinstance(result.training, dict)
    if source is not None:
        result.training["source"] = source
    said = page(result).by_id("training-source")
    assert (said is not None) == (source == "memo")
    if said is not None:
        assert "remembered from an identical earlier training" in said["text"]


@pytest.mark.parametrize("epochs, said", [(1, "for 1 epoch ("), (8, "for 8 epochs (")])
def test_the_training_paragraph_counts_its_epochs_in_words_that_agree(spec, epochs, said):
    result = reports.passing(spec)
    assert isinstance(result.training, dict)
    result.training.update(epochs=epochs, seconds=4)
    assert said in html.render_report(result)
