"""Self-contained HTML reports: one page per submission and an index for a batch.

Each page carries its CSS and images inline (plots are SVG data URIs) and loads nothing from
anywhere, so it opens offline and can be mailed or uploaded as one file. Templates ship in
``grader/templates`` with autoescape on: every string from a submission is shown as text.
A Content-Security-Policy allows only the page's own style block and, on the index, its own
sorting script (by hash), so even markup that slipped through escaping could not run or load.
"""
from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from grader.analytics.cohort import cohort
from grader.render import baselines_view, cohort_view, points, view, writers
from grader.render.files import write_text
from grader.result import Result

INDEX_FILE = "index.html"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("grader", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["points_note"] = points.note  # why a check's points differ from its mark
    return env


def _asset(name: str) -> str:
    loader = environment().loader
    assert loader is not None  # environment() gives it one
    return loader.get_source(environment(), name)[0]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp(style: str, script: str | None = None) -> str:
    """Nothing from the network; only this page's own style (and script) by hash."""
    scripts = _sha256(script) if script else "'none'"
    return (f"default-src 'none'; img-src data:; style-src {_sha256(style)}; "
            f"script-src {scripts}; base-uri 'none'; form-action 'none'")


def _page(template: str, script: str | None = None, **context) -> str:
    style = _asset("style.css")
    return environment().get_template(template).render(
        style=Markup(style), script=Markup(script) if script else None,
        csp=csp(style, script), **context)


def render_report(result: Result) -> str:
    """The report of one submission as one HTML document."""
    return _page("report.html.j2", **view.report(result),
                 baselines=baselines_view.report(result))


def report_href(submission: str) -> str:
    """The relative link to ``<submission>.html`` (quoted: a name is never read as a URL scheme)."""
    return "./" + quote(f"{submission}.html")


def _relative(href: str) -> str:
    """A caller's link as a relative path: ``:`` is quoted, so no name becomes a scheme."""
    href = quote(str(href), safe="/%#")
    return href if href.startswith(("./", "../")) else "./" + href.lstrip("/")


def render_index(results: list[Result], links: dict[str, str] | None = None) -> str:
    """The batch index; ``links`` maps a submission to its report (default ``<name>.html``)."""
    if links is None:
        links = {r.submission: report_href(r.submission) for r in results}
    links = {name: _relative(href) for name, href in links.items() if href}
    return _page("index.html.j2", script=_asset("sort.js"), **view.index(results, links),
                 analytics=cohort_view.analytics(cohort(results), links),
                 baselines=baselines_view.index(results))


def write_report(result: Result, path: Path) -> Path:
    """Write the report of ``result`` to ``path`` atomically; returns the path."""
    return write_text(Path(path), render_report(result))


def write_index(results: list[Result], out_dir: Path, links: dict[str, str] | None = None) -> Path:
    """Write ``out_dir/index.html`` for a batch; returns its path."""
    return write_text(Path(out_dir) / INDEX_FILE, render_index(results, links))


WRITER = writers.register(writers.Writer(
    name="html", help="write the HTML feedback report here (one self-contained file)",
    file_name="report.html", course_file=INDEX_FILE, student_file="students/{}.html",
    one=lambda result, context: render_report(result),
    course=lambda results, context: render_index(results, context.links),
    flag="--report", metavar="FILE.html"))
