"""Numbers as the reports print them."""

from __future__ import annotations


def signed(x: float, digits: int = 3) -> str:
    """A loss change with its sign, to `digits` decimals; unsigned 0 for one that rounds to
    0 (a measured -0.0001 had printed as -0.000)."""
    text = f"{x:+.{digits}f}"
    return text[1:] if text[1:] == f"{0:.{digits}f}" else text
