"""Cohort analytics from results built by the real checking code: the counts are those of a
batch whose mistakes are known (3 without padding, 2 without pooling, 1 correct, 2 cell errors,
1 timeout)."""
import json

import pytest

from grader.analytics import cohort as analytics
from grader.checks import registry
from grader.result import ErrorInfo, Result, Status

from tests import reports


def named(result, name):
    result.submission = name
    return result


@pytest.fixture()
def cohort_results(spec):
    timeout = Result(submission="tim_loops", status=Status.TIMEOUT, max_score=registry.max_score(spec),
                     error=ErrorInfo(kind="timeout", message="the notebook ran over 300 s"),
                     timings={"total": 300.0})
    return ([named(reports.no_padding(spec), f"pad{k}") for k in range(3)]
            + [named(reports.no_pooling(spec), f"pool{k}") for k in range(2)]
            + [reports.passing(spec), reports.error(spec, name="typo1"),
               reports.error(spec, name="typo2"), timeout])


def test_mistakes_are_grouped_by_the_mistake_with_counts_and_students(cohort_results):
    groups = analytics.cohort(cohort_results).mistakes
    counts = {g.words: (g.count, g.students) for g in groups}
    assert counts["Conv2D without padding='same'"] == (3, ["pad0", "pad1", "pad2"])
    assert counts["missing MaxPooling2D"] == (2, ["pool0", "pool1"])
    assert groups[0].words == "Conv2D without padding='same'"  # the largest group first


def test_identical_wrong_architectures_form_one_cluster_each(cohort_results):
    clusters = analytics.cohort(cohort_results).clusters
    assert [(c.count, c.words) for c in clusters] == [
        (3, "Conv2D without padding='same'"), (2, "missing MaxPooling2D")]


def test_a_layer_name_does_not_split_a_cluster(spec):
    a = reports.no_padding(spec, layer_name="conv2d_3")
    b = named(reports.no_padding(spec, layer_name="my_conv"), "other")
    assert analytics.fingerprint(a) == analytics.fingerprint(b)
    assert [c.count for c in analytics.clusters([a, b])] == [2]


def test_not_graded_causes_are_grouped_by_exception_and_limit(cohort_results):
    groups = {(g.category, g.words): g.students for g in analytics.cohort(cohort_results).not_graded}
    assert groups == {("notebook", "cell_error: NameError"): ["typo1", "typo2"],
                      ("limit", "timeout"): ["tim_loops"]}


def test_every_check_has_its_pass_rate_over_the_graded_submissions(cohort_results):
    rates = {c.name: (c.passed, c.total) for c in analytics.cohort(cohort_results).checks}
    assert rates["Parameter totals"] == (1, 6)
    padding_args = next(n for n in rates if n.startswith("Added layer 1") and "arguments" in n)
    assert rates[padding_args] == (3, 6)  # the 2 without pooling and the correct one pass it


def test_course_json_is_plain_data_with_scores_and_times(cohort_results):
    data = json.loads(json.dumps(analytics.cohort(cohort_results).to_dict()))
    assert data["submissions"] == 9 and data["counts"]["error"] == 2
    assert sorted(data["scores"]) == sorted(r.score for r in cohort_results
                                            if r.status in (Status.PASSED, Status.FAILED))
    assert 300.0 in data["seconds"] and data["mistakes"][0]["count"] == 3


def test_a_cause_the_advice_recognised_is_told_apart_from_a_plain_error(spec):
    colab = reports.error(spec, name="colab_user", message="No module named 'google.colab'")
    colab.error.message = "cell 2 raised ModuleNotFoundError: No module named 'google.colab'"
    colab.error.advice = "This machine is not Colab: remove the google.colab import."
    groups = {g.students[0]: (g.category, g.words)
              for g in analytics.not_graded([colab, reports.error(spec, name="typo")])}
    assert groups == {"colab_user": ("recognised", "cell_error: ModuleNotFoundError"),
                      "typo": ("notebook", "cell_error: NameError")}
