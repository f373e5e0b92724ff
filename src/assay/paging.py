"""A list with a token for the next page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["PagedList"]

T = TypeVar("T")


class PagedList(list[T]):
    """One page of results. ``token`` is the opaque cursor for the next page, or ``None``."""

    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
