"""What the labeling pages' form posts share: the posted fields, in order with repeated
ones kept, and the name a change is made under."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from assay.errors import InvalidParameterError
from assay.server.ui.assessment_forms import DEFAULT_SOURCE_ID

__all__ = ["read_pairs", "source_name"]

_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES = 1 << 20
_MAX_FIELDS = 2000


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """A URL-encoded form's fields, in order, repeated ones kept.

    Raises:
        InvalidParameterError: another content type, a body over 1 MiB, bad encoding, or
            more than 2,000 fields.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise InvalidParameterError(
            f"Invalid form: expected Content-Type {_FORM_TYPE}, got {content_type or 'none'!r}")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidParameterError(
            f"Invalid form: {len(body):,} bytes; the limit is {_MAX_FORM_BYTES:,}")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                         max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterError(f"Invalid form encoding: {exc}") from None


def source_name(request: Request) -> str:
    """Who makes a change: the signed-in user's name, else ``web-ui`` (auth off)."""
    user = getattr(request.state, "user", None)
    for attribute in ("username", "name"):
        found = getattr(user, attribute, None)
        if isinstance(found, str) and found:
            return found
    return DEFAULT_SOURCE_ID
