"""The API format's link value: `[source node id, output slot]` in place of an input's value."""

from __future__ import annotations

from typing import Any


def is_link(value: Any) -> bool:
    """Whether an input value is a link: a 2-item list (or tuple) of a node id (string, or an int before
    normalisation) and an integer output slot. Booleans are values, never ids or slots."""
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )
