"""Page tokens: opaque keyset cursors that say where the next page starts.

A token holds the sort key of the last row of a page, so the next page is one indexed range
scan (``WHERE key is after the cursor ... LIMIT n``) and page 1000 costs what page 1 costs,
unlike an OFFSET. It is base64 of a small JSON document tagged with what it pages through,
so a token from one listing is rejected by another instead of silently misread.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from assay.errors import InvalidParameterError

__all__ = ["decode_page_token", "encode_page_token"]

_VERSION = 1
_MAX_TOKEN_CHARS = 4096


def encode_page_token(kind: str, key: tuple[int, int | str]) -> str:
    """The token for the page that starts after the row whose sort key is ``key``."""
    doc = {"v": _VERSION, "k": kind, "after": list(key)}
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_page_token(token: str, kind: str, second: type[int] | type[str]) -> tuple[int, Any]:
    """The sort key a token of this ``kind`` holds: an int and then an int or a str.

    Raises InvalidParameterError for anything that is not such a token.
    """
    doc = _decode(token)
    after = doc.get("after") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("v") != _VERSION or doc.get("k") != kind
            or not isinstance(after, list) or len(after) != 2
            or type(after[0]) is not int or type(after[1]) is not second):
        raise _invalid(token)
    return after[0], after[1]


def _decode(token: str) -> Any:
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise _invalid(token)
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise _invalid(token) from exc


def _invalid(token: object) -> InvalidParameterError:
    shown = token if isinstance(token, str) and len(token) <= 100 else f"{str(token)[:100]}…"
    return InvalidParameterError(
        f"Invalid page_token {shown!r}: pass the token returned with the previous page")
