"""Written answers: where they are found, how numbers are read, which facts they give."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.answers import extract, markdown, numbers, questions
from grader.checks import facts, registry
from grader.checks.kind import ANSWERS, CheckContext
from grader.exceptions import SpecError
from grader.exercise.spec import Spec, load_exercise

from tests import notebooks
from tests.conftest import ROOT

QUESTION = {"id": "a", "title": "a)", "points": 2,
            "answer": {"tag": "answer:a", "heading": "Answer a"},
            "facts": [{"label": "392,500", "number": 392500, "points": 1}]}
CLAIM = {"id": "c", "title": "c)", "points": 1, "answer": {"tag": "answer:c"},
         "facts": [{"label": "own accuracy", "claim": ["val_accuracy", "val_acc"],
                    "tolerance": 0.02, "points": 1}]}


@pytest.mark.parametrize("written, wanted", [
    ("392500", 392500), ("392,500", 392500), ("392 500", 392500), ("392'500", 392500),
    ("392\u2019500", 392500), ("392\u202f500", 392500), ("392.500", 392500), ("3.925e5", 392500),
    ("3,925E5", 392500), ("392,500.0", 392500), ("1.234.567", 1234567), ("1'234'567", 1234567),
    ("392.500", 392.5), ("392,5", 392.5), ("0.915", 0.915), ("0,915", 0.915),
    ("91.5 %", 0.915), ("91.5%", 91.5), ("250,890", 250890), ("25 088", 25088),
])
def test_every_accepted_spelling_reads_as_the_number(written, wanted):
    assert numbers.find(f"dense_1 has {written}.", wanted) == written.strip()


@pytest.mark.parametrize("written, not_wanted", [
    ("0.915", 915), ("392,500.5", 392500), ("3925", 392500), ("39250", 392500),
    ("dense_392500", 392500), ("Conv2D", 2), ("392.5", 392500), ("3.925e4", 392500),
    ("1.234.567", 1.234),
])
def test_a_different_number_or_digits_inside_a_word_are_not_the_number(written, not_wanted):
    assert numbers.find(written, not_wanted) is None


def test_the_ambiguous_single_group_keeps_both_readings_and_nothing_else_does():
    assert [v for _, v in numbers.numbers_in("392.500")] == [{392.5, 392500.0}]
    assert [v for _, v in numbers.numbers_in("392'500")] == [{392500.0}]
    assert [v for _, v in numbers.numbers_in("0.500")] == [{0.5}]


def test_a_tolerance_accepts_a_rounded_number():
    assert numbers.find("about 0.93", 0.9312, 0.01) == "0.93"
    assert numbers.find("about 0.93", 0.9312, 0.001) is None


def _nb(*cells) -> list[dict]:
    return extract.notebook_cells(nbformat.from_dict(new_notebook(cells=list(cells))))


def _tagged(text: str, tag: str = "answer:a", kind=new_markdown_cell):
    cell = kind(text)
    cell.metadata["tags"] = [tag]
    return cell


def test_an_answer_is_found_in_a_tagged_cell_markdown_or_code():
    found = extract.find_answer(_nb(_tagged("It has 392,500.")), QUESTION)
    assert found.found and found.text == "It has 392,500." and "tag answer:a" in found.where
    code = extract.find_answer(_nb(_tagged("# 392500 parameters", kind=new_code_cell)), QUESTION)
    assert code.text == "# 392500 parameters"


def test_an_answer_is_found_under_its_heading_up_to_the_next_heading_or_code():
    cells = _nb(new_markdown_cell("### Answer a)\nMost are in dense_1"),
                new_markdown_cell("because 784*500+500 = 392500"),
                new_markdown_cell("### Answer b)\nsomething else"), new_code_cell("x = 1"))
    found = extract.find_answer(cells, QUESTION)
    assert found.text == "Most are in dense_1\n\nbecause 784*500+500 = 392500"
    assert "something else" not in found.text and "cells 1–2" in found.where


def test_a_heading_matches_whole_words_only():
    cells = _nb(new_markdown_cell("## Answer about everything\nnot this"),
                new_markdown_cell("## ANSWER  A) the fc network\nthis one"))
    assert extract.find_answer(cells, QUESTION).text == "this one"


def test_the_tag_wins_over_the_heading():
    cells = _nb(new_markdown_cell("## Answer a\nheading text"), _tagged("tagged text"))
    assert extract.find_answer(cells, QUESTION).text == "tagged text"


@pytest.mark.parametrize("cells", [
    [], [_tagged("   \n")], [new_markdown_cell("## Answer a\n")],
    [new_markdown_cell("## Answer a"), new_code_cell("392500")],
], ids=["none", "blank tagged", "empty heading", "heading then code"])
def test_a_missing_or_empty_answer_is_no_answer_found(cells):
    found = extract.find_answer(_nb(*cells), QUESTION)
    assert not found.found and found.where is None and found.sha256 == ""


def test_the_course_notebook_without_answer_cells_finds_no_answer_and_no_crash(spec):
    cells = extract.notebook_cells(nbformat.from_dict(notebooks.course_notebook(answers=None)))
    exercise = load_exercise(ROOT / "reference" / "cnn2")
    found = extract.find_answers(cells, exercise["questions"])
    assert [a.found for a in found] == [False] * len(exercise["questions"])
    checks = registry.run(CheckContext(_with_questions(spec, exercise), answers=found), ANSWERS)
    assert checks and all(c.points == 0 and c.message == "no answer found" for c in checks)


def test_an_unreadable_notebook_has_no_cells(tmp_path):
    (tmp_path / "x.ipynb").write_text("{not json")
    assert extract.notebook_cells(tmp_path / "x.ipynb") == []


def test_copied_answers_have_the_same_digest_whatever_case_space_and_punctuation():
    assert extract.digest("Dense_1 has 392,500!") == extract.digest("dense 1  HAS 392 500")
    assert extract.digest("dense_1 has 392,500") != extract.digest("dense_2 has 392,500")


def _with_questions(spec: Spec, exercise: dict) -> Spec:
    from dataclasses import replace
    return replace(spec, questions=exercise["questions"],
                   checks=[*spec.checks, {"kind": "facts"}] if "facts" not in spec.points
                   else spec.checks)


def _fit_cell(accuracies: list[float]):
    log = "".join(f"Epoch {i + 1}/{len(accuracies)}\n19/19 - 1s - loss: 0.5 - accuracy: 0.9 - "
                  f"val_loss: 0.4 - val_accuracy: {acc}\n" for i, acc in enumerate(accuracies))
    cell = new_code_cell("history = model.fit(...)")
    cell.outputs = [new_output("stream", name="stdout", text=log)]
    return cell


def _claim_checks(spec, answer_text: str, *cells) -> list:
    cells_ = _nb(*cells, _tagged(answer_text, "answer:c"))
    found = extract.find_answers(cells_, [CLAIM])
    spec = _with_questions(spec, {"questions": [CLAIM]})
    return registry.run(CheckContext(spec, answers=found, saved_run=facts.saved_run(cells_)), ANSWERS)


@pytest.mark.parametrize("quoted, passed", [
    ("It reaches 0.962 on validation.", True), ("about 96 %", True), ("0,95", True),
    ("It reaches 0.99.", False), ("It is very good.", False),
])
def test_a_quoted_accuracy_is_checked_against_the_last_one_of_the_student_s_own_run(spec, quoted,
                                                                                    passed):
    check, = _claim_checks(spec, quoted, _fit_cell([0.5, 0.7]), _fit_cell([0.90, 0.9612]))
    assert check.passed is passed and check.points == (1.0 if passed else 0.0)
    assert check.expected == pytest.approx(0.9612)


def test_a_claim_without_a_saved_run_is_not_checked_and_gives_nothing(spec):
    check, = _claim_checks(spec, "It reaches 0.96.")
    assert not check.passed and check.points == 0 and "no saved training run" in check.message


def test_answer_facts_give_points_but_never_the_status(spec):
    from grader.result import Check, first_failed
    code = Check("Architecture", True, "ok", 2, 2)
    fact = Check("Answer a: 392,500", False, "missing", 0, 1, category="answers")
    assert first_failed([code, fact]) is None


def test_the_reference_solution_gets_every_fact_and_the_template_none():
    for name in ("cnn2", "cnn2_2018"):
        spec = Spec.load(ROOT / "reference" / name)
        assert spec.questions == load_exercise(ROOT / "reference" / name)["questions"]
        for role, full in (("solution", True), ("template", False)):
            cells = extract.notebook_cells(ROOT / "reference" / name / f"{role}.ipynb")
            found = extract.find_answers(cells, spec.questions)
            assert all(a.found for a in found) is full
            checks = registry.run(CheckContext(spec, answers=found, saved_run=facts.saved_run(cells)),
                                  ANSWERS)
            points = sum(c.points for c in checks)
            assert points == (sum(c.max_points for c in checks) if full else 0), (name, role)


@pytest.mark.parametrize("bad", [
    [{"title": "no id", "answer": {"tag": "x"}}],
    [{"id": "a", "answer": {"tag": "x"}}, {"id": "a", "answer": {"tag": "y"}}],
    [{"id": "a"}],
    [{"id": "a", "points": 1, "answer": {"tag": "x"}, "rubric": [{"points": 2, "text": ""}]}],
    [{"id": "a", "answer": {"tag": "x"}, "facts": [{"label": "neither"}]}],
], ids=["no id", "duplicate", "no place", "rubric above points", "fact of no kind"])
def test_a_badly_declared_question_is_a_spec_error(bad):
    with pytest.raises(SpecError):
        questions.validate(bad)


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[a](javascript:alert(1))",
    "**<b>bold</b>**", "`<i>`", "&lt;script&gt;",
])
def test_markdown_of_an_answer_never_yields_a_tag_from_the_student(text):
    import re
    html = str(markdown.render(text))
    ours = re.sub(r"</?(p|br|strong|em|code|ul|li)>", "", html)
    assert "<" not in ours and ">" not in ours and "href" not in html


def test_markdown_renders_the_small_subset():
    html = str(markdown.render("**bold** and *it* `x<y`\n\n- one\n- two\n\n# Head"))
    assert html == ("<p><strong>bold</strong> and <em>it</em> <code>x&lt;y</code></p>"
                    "<ul><li>one</li><li>two</li></ul><p><strong>Head</strong></p>")


def test_an_nbformat_3_notebook_gives_its_answers_as_version_4_does():
    nb = new_notebook(cells=[new_markdown_cell("### Answer a)\nMost are in dense_1: 392,500"),
                             new_code_cell("x = 1")])
    old = nbformat.convert(nbformat.from_dict(nb), 3)  # cells inside worksheets, "input"
    assert "cells" not in old and old["worksheets"][0]["cells"]
    raw = nbformat.writes(nbformat.from_dict(old), version=3).encode()
    found = extract.find_answer(extract.notebook_cells(raw), QUESTION)
    assert found.found and "392,500" in found.text
