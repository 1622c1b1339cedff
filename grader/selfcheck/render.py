"""The in-notebook self-check, shown under the cell: rich HTML in Jupyter/Colab/VS Code, plain
text elsewhere. The "layers you had to add" cards are the HTML report's own template
(``added_layers.html.j2``) fed by the report's own view (``view.added_layers``); only the frame
around them is the self-check's. The report's stylesheet is scoped to the output's own element,
so it cannot restyle the notebook around it."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from markupsafe import Markup

from grader.render import points, view
from grader.render.html import _asset, environment
from grader.result import Result
from grader.selfcheck.readiness import Note


class SelfCheck(Protocol):
    """What is shown of a self-check (``grader.notebook.SelfCheck``, which renders itself with
    this module: a protocol here, so that neither module imports the other's)."""

    result: Result
    notes: list[Note]
    seconds: float

SCOPE = ".cnn-grader-selfcheck"
COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
#: selectors that mean the page itself; in a notebook they mean the output's element
PAGE = {":root", "body"}
#: a notebook's output area is narrower than a report page: long argument lists wrap
NARROW = (f"{SCOPE} .kv td.mono {{white-space: normal; overflow-wrap: anywhere;}}\n"
          f"{SCOPE} h2 {{margin-top: 18px;}}")


@lru_cache(maxsize=1)
def scoped_style() -> str:
    """The report's CSS with every selector under ``SCOPE`` (``@media`` blocks left out)."""
    css = _without_at_blocks(COMMENT.sub("", _asset("style.css")))
    rules = []
    for selectors, body in RULE.findall(css):
        scoped = [SCOPE if s.strip() in PAGE else f"{SCOPE} {s.strip()}"
                  for s in selectors.split(",") if s.strip()]
        rules.append(f"{', '.join(scoped)} {{{body.strip()}}}")
    return "\n".join(rules + [NARROW])


def _without_at_blocks(css: str) -> str:
    """Drop ``@media … { … }`` (nested braces) blocks: print rules have no place in a notebook."""
    while (start := css.find("@")) >= 0:
        depth, i = 0, css.index("{", start)
        while True:
            depth += {"{": 1, "}": -1}.get(css[i], 0)
            if depth == 0:
                break
            i += 1
        css = css[:start] + css[i + 1:]
    return css


def context(sc: SelfCheck) -> dict:
    r = sc.result
    return {"r": r, "verdict": view.verdict(r), "added": view.added_layers(r),
            "summary": view.plain(r.summary), "error": view.error(r),
            "warnings": [view.plain(w) for w in r.warnings], "notes": sc.notes,
            "other_models": view.other_models(r), "seconds": sc.seconds}


def render_html(sc: SelfCheck) -> str:
    template = environment().get_template("selfcheck.html.j2")
    return template.render(style=Markup(scoped_style()), **context(sc))


def render_text(sc: SelfCheck) -> str:
    """The same content as lines: verdict, "Fix first", each failed check with its hint, notes."""
    r, v = sc.result, view.verdict(sc.result)
    lines = [f"Self-check (structure only): {v['word']}  {v['score']}/{v['max_score']} points"
             + (f"  [model: {view.plain(r.model_variable)}]" if r.model_variable else ""),
             view.plain(r.summary)]
    lines += [f"  warning: {view.plain(w)}" for w in r.warnings]
    if r.error is not None and r.error.advice:
        lines.append(f"  what to do: {view.plain(r.error.advice)}")
    failed = [c for c in r.checks if not c.passed]
    if r.checks:
        lines.append(f"  {len(r.checks) - len(failed)} of {len(r.checks)} checks passed")
    for c in failed:
        said = points.note(c)
        lines.append(f"  ✗ {points.fraction(c)}  {c.name}: {view.plain(c.message)}"
                     + (f" — {said}" if said else ""))
    hints = list(dict.fromkeys(view.plain(c.hint) for c in failed if c.hint))
    lines += [f"  hint: {h}" for h in hints]
    lines += [f"  {'!' if n.level == 'warn' else '-'} {n.text}" for n in sc.notes]
    return "\n".join(lines)
