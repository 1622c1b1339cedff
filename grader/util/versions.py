"""Installed library versions, as results and the verification memo record them."""
from __future__ import annotations

from functools import cache
from importlib import metadata


def package_versions(*names: str) -> dict[str, str | None]:
    """``{name: version}``, ``None`` for a package that is not installed (a fresh dict)."""
    return dict(_versions(names))


@cache
def _versions(names: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    """Cached: the versions of a running process do not change, and a batch asks once per
    submission."""
    return tuple((name, _version(name)) for name in names)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
