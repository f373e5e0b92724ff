"""The one error the search language raises: :class:`FilterError`, with a position."""

from __future__ import annotations

from assay.errors import InvalidParameterError

__all__ = ["FilterError"]


class FilterError(InvalidParameterError):
    """A filter string or an ``order_by`` entry that Assay cannot take.

    It is an :class:`~assay.errors.InvalidParameterError` (so also a ``ValueError``) whose
    message names what is wrong and where. ``position`` is the 0-based character offset of the
    offending text in the string that was parsed (the filter, or one ``order_by`` entry), and
    ``fragment`` is that text as written; both are ``None`` only when there is no single place
    to point at.
    """

    def __init__(self, message: str, *, position: int | None = None,
                 fragment: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.fragment = fragment
