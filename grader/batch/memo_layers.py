"""The verification memo as a cluster's coordinator hands it to later tasks: in layers.

Each time tasks return trainings, later tasks must see them. A fresh full snapshot per growth
moves the whole memo again each time: M trainings cost up to M²/2 entries per worker. Here the
new entries become a layer of their own (a Dask future, moved once to each worker that runs a
task needing it) and a layer is merged into the one before it while that one is less than
twice its size, so layers halve in size from first to last: a task depends on at most
log2(M) + 1 layers, and an entry travels again only when its layer grows by half, at most
log1.5(M) + 1 times (M log M in all, not M²).

Why not "only the entries a worker has not seen": the coordinator does not choose the worker
(Dask does). Why not "only the architectures the pending tasks need": a task's architecture is
known only once its notebook has run on the worker.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class MemoLayers:
    """The trainings learned so far, as layers made by ``send(entries)`` (a future, in a batch)."""

    def __init__(self, send: Callable[[dict], Any]) -> None:
        self.send = send
        self.layers: list[tuple[dict, Any]] = []  # (entries, what send made of them), biggest first
        self.known: set[str] = set()

    def add(self, entries: dict) -> None:
        """Make the entries not known yet visible to every task submitted from now on."""
        new = {key: value for key, value in entries.items() if key not in self.known}
        if not new:
            return
        self.known.update(new)
        while self.layers and len(self.layers[-1][0]) < 2 * len(new):
            new = {**self.layers.pop()[0], **new}
        self.layers.append((new, self.send(new)))

    def handles(self) -> list:
        """What a task is given: every layer's handle (the worker reads them in order)."""
        return [handle for _, handle in self.layers]
