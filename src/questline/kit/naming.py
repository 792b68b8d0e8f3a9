"""Small checks on names in configuration documents."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


def refuse_repeats(names: Iterable[str], what: str) -> None:
    """A document's validators: `<what> used twice: a, b` for the names that occur more than once."""
    dupes = repeated(names)
    if dupes:
        raise ValueError(f"{what} used twice: {', '.join(dupes[:10])}")
