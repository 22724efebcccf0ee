"""A read-only mapping for the fields of the frozen results.

types.MappingProxyType is read-only too, but it cannot be pickled, deep-copied or
hashed, so neither could a Run, a Config or a Finding that held one. FrozenDict keeps
its own copy of the items: it pickles as a dict does, and hashes as the frozenset of its
items where the values hash (a config value that is a list does not), so a frozen
dataclass holding it hashes as its fields do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    """A dict that cannot be changed after it is made (the items of `items`, copied)."""

    __slots__ = ("_items", "_hash")

    _items: Mapping[K, V]  # a read-only view of its own dict
    _hash: int | None

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        if hasattr(self, "_items"):
            raise TypeError("a FrozenDict cannot be changed")
        object.__setattr__(self, "_items", MappingProxyType(dict(items)))
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError("a FrozenDict cannot be changed")

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self._items == (other._items if isinstance(other, FrozenDict) else dict(other))

    def __hash__(self) -> int:
        h = self._hash
        if h is None:  # a TypeError here names the value that does not hash (a list)
            h = hash(frozenset(self._items.items()))
            object.__setattr__(self, "_hash", h)
        return h

    def __repr__(self) -> str:
        return f"FrozenDict({dict(self._items)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self._items),))


def frozen(items: Mapping[K, V]) -> FrozenDict[K, V]:
    """`items` as a FrozenDict: itself where it is one (a dataclass's replace() runs its
    __post_init__ again, and need not copy what cannot change)."""
    return items if isinstance(items, FrozenDict) else FrozenDict(items)
