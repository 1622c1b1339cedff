"""The index page's analytics section: ``grader.analytics.cohort.Cohort`` shaped for the template.

Only presentation: percentages, the links to each student's report, the two distributions as
SVG data URIs. Every string that can come from a submission (student ids, exception names)
stays text for the template's autoescape.
"""
from __future__ import annotations

from grader.analytics.cohort import Cohort, Group
from grader.render import plots

CATEGORIES = {"limit": "limit", "recognised": "cause recognised (environment, versions, cell order)",
              "notebook": "notebook", "grader": "grader fault"}


def _students(group: Group, links: dict[str, str]) -> list[dict]:
    return [{"name": s, "href": links.get(s)} for s in group.students]


def _group(group: Group, links: dict[str, str]) -> dict:
    return {"key": group.key, "words": group.words, "count": group.count,
            "students": _students(group, links), "mistakes": group.mistakes,
            "category": CATEGORIES.get(group.category or "", group.category or "")}


def _plot(draw, *args) -> str | None:
    try:
        return draw(*args)
    except (ValueError, TypeError, OverflowError, RuntimeError):
        return None


def analytics(cohort: Cohort, links: dict[str, str]) -> dict:
    """The template's ``analytics`` context."""
    return {
        "checks": [{"name": c.name, "passed": c.passed, "total": c.total,
                    "percent": f"{100 * c.rate:.0f}"} for c in cohort.checks],
        "mistakes": [_group(g, links) for g in cohort.mistakes],
        # an architecture of one student is that student's row already: only shared ones here
        "clusters": [_group(g, links) for g in cohort.clusters if g.count > 1],
        "unshared": sum(g.count == 1 for g in cohort.clusters),
        "not_graded": [_group(g, links) for g in cohort.not_graded],
        "times": _plot(plots.time_histogram, cohort.seconds),
    }
