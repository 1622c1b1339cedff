"""Runs in the kernel (``guard.py`` loads it): what the notebook left around the grader's report,
removed before the report describes anything, and named.

A notebook's code can run *during* the report without being called by it: IPython run hooks and
input transformers, threads, profile and trace functions (``sys.setprofile``/``settrace``: they
run on every call of the grader's code), garbage-collector callbacks (``gc.callbacks``: they run
at any allocation), a variable whose name is a ``str`` subclass (its ``__eq__`` runs whenever
names are compared), or a replaced IPython namespace. A red team used each to swap ``model`` for
another network mid-report, or to hide a change while the grader looked (2026-12-07). The report
first stops the collector (``Report.begin``: before anything it allocates), then removes what it
can and names all of it (``hook-removed`` review entries), and reads the namespace captured
before the first student cell.

Nothing here is absolute (the notebook shares the process): these make a swap harder and
noisy. Plain, self-contained Python: the kernel receives it as source text.
"""


class Report:
    """Captured before the first student cell; ``begin``/``end`` bracket one report (the
    runner asks for two: a preview, then the report; the second names what the first removed)."""

    TRACING = ("sys.setprofile", "sys.settrace")

    def __init__(self, shell, sys, threading, gc, itertools):
        self.shell, self.namespace = shell, shell.user_ns
        self.hooks = Hooks(shell, threading, sys)
        self.gc_callbacks = gc.callbacks  # the collector's own list (rebinding the name does not move it)
        self.gc_baseline = list(gc.callbacks)
        self.gc, self.was_collecting = (gc.isenabled, gc.disable, gc.enable), True
        self.untrace = (sys.setprofile, sys.settrace, threading.setprofile, threading.settrace)
        # an audit hook cannot be removed; a C counter cannot be wound back, only forward
        events, counter = self.TRACING, itertools.count()
        self.traced, self.read = counter, itertools.count()
        #: what earlier reports of this run found (a preview's): each report names all of it
        self.found = []

        def audit(event, args):
            if event in events:
                next(counter)

        sys.addaudithook(audit)

    def begin(self):
        """Stop the collector (no callback runs from here on), remove what the notebook left,
        and return ``(namespace, what was found)``."""
        isenabled, disable, _ = self.gc
        collecting = isenabled()
        disable()
        self.was_collecting = collecting
        found = self._tracing() + self._gc_callbacks() + self.hooks.disarm()
        namespace = self.namespace
        if self.shell.user_ns is not namespace:
            found.append("the IPython namespace replaced (the one the cells ran in is described)")
        plain, odd = plain_names(namespace)
        if odd:
            found.append(f"{odd} variable(s) whose name is not a plain string (its comparisons "
                         "run notebook code)")
        # this report's own finds first: earlier ones cannot crowd them out of the 50
        self.found = [item for item in found if item not in self.found] + self.found
        return plain, self.found[:50]

    def end(self):
        if self.was_collecting:
            self.gc[2]()

    def _tracing(self):
        for unset in self.untrace:
            try:
                unset(None)
            except Exception:
                pass
        # each read of the counter moves it once; each of the two sys calls above once
        seen = next(self.traced) - 3 * next(self.read) - 2
        return ["sys.setprofile or sys.settrace called by the notebook (a profile or trace "
                "function)"] if seen > 0 else []

    def _gc_callbacks(self):
        added = [c for c in list(self.gc_callbacks) if not any(c is b for b in self.gc_baseline)]
        for callback in added:
            try:
                self.gc_callbacks.remove(callback)
            except ValueError:
                pass
        return [f"gc.callbacks entry {getattr(c, '__name__', '?')!s:.80}" for c in added]


def plain_names(namespace):
    """The namespace with only plain ``str`` names (a copy: building it compares no names), and
    how many others it held."""
    plain, odd = {}, 0
    for name, value in list(dict.items(namespace)):
        if type(name) is str:
            plain[name] = value
        else:
            odd += 1
    return plain, odd


class Hooks:
    """IPython run hooks, input transformers and threads present once the grader's setup ran."""

    def __init__(self, shell, threading, sys):
        self.shell, self.threading = shell, threading
        #: where installed libraries live: their hooks (matplotlib's) are not the notebook's
        self.installed = tuple({p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p})
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.transformers = {k: list(self.lists()[k]) for k in self.lists()}
        self.threads = set(threading.enumerate())

    def lists(self):
        manager = self.shell.input_transformer_manager
        return {"input_transformers_cleanup": manager.cleanup_transforms,
                "input_transformers_post": self.shell.input_transformers_post,
                "line_transforms": manager.line_transforms,
                "token_transformers": manager.token_transformers}

    def library(self, function):
        """Defined in a file of an installed library (matplotlib's hooks, not a cell's)."""
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        path = str(getattr(code, "co_filename", ""))
        return path.startswith(self.installed) and "site-packages" in path

    def disarm(self):
        """Remove the notebook's run hooks and transformers; name them (and new threads)."""
        added = []
        for event, callbacks in self.shell.events.callbacks.items():
            for callback in [c for c in callbacks if c not in self.events.get(event, [])
                             and not self.library(c)]:
                callbacks.remove(callback)
                added.append(f"IPython {event} hook {getattr(callback, '__name__', '?')!s:.80}")
        for name, items in self.lists().items():
            for item in [t for t in items if t not in self.transformers.get(name, [])]:
                items.remove(item)
                added.append(f"IPython {name} entry {getattr(item, '__name__', '?')!s:.80}")
        threads = [t for t in self.threading.enumerate() if t not in self.threads and t.is_alive()
                   and not self.library(getattr(t, "run", None))]
        added += [f"thread {t.name!s:.80} still running" for t in threads]
        return added[:50]
