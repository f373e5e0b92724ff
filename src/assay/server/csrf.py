"""CSRF tokens: a signed double-submit token for the web pages' forms and scripts.

A token reads ``<nonce>.<signature>``: the signature is an HMAC-SHA256, under the server's
"csrf" signing key, of the nonce and of the browser's login-session cookie (empty when there
is none), so a token made for one sign-in is worthless for another. The same token is set as
the ``assay_csrf`` cookie (HttpOnly, SameSite=Lax) and written into each page, where forms send
it back in a hidden ``csrf_token`` field and scripts in the ``X-CSRF-Token`` header. A request
passes when what it sends equals its cookie and the signature holds: a page on another site
can make the browser send the cookie, but cannot read it or the page to learn the token.

The signing key lives in the database (``signing_keys``), so every server process over one
database accepts the tokens of the others.

This module only makes, checks and finds tokens; :mod:`assay.server.auth` decides which
requests need one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfSigner",
    "form_field",
    "is_form_content_type",
]

#: The cookie holding the token (the "double" of the double submit).
CSRF_COOKIE = "assay_csrf"
#: The form field a page's forms send the token in.
CSRF_FIELD = "csrf_token"
#: The header scripts send the token in (lower case, as ASGI has header names).
CSRF_HEADER = b"x-csrf-token"

#: Content types a page on another site can make a browser send without asking first
#: (CORS "simple" requests): a request with one of these must carry a token.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_NONCE_BYTES = 18


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


class CsrfSigner:
    """Makes and checks tokens under one signing key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, nonce: str, binding: str) -> str:
        message = f"csrf\n{binding}\n{nonce}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def new_token(self, binding: str) -> str:
        """A fresh token for the sign-in ``binding`` names (its session cookie, or "")."""
        nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
        return f"{nonce}.{self._signature(nonce, binding)}"

    def is_valid(self, token: str, binding: str) -> bool:
        """Whether ``token`` was made by this server for ``binding``."""
        nonce, dot, signature = token.partition(".")
        if not dot or not nonce or len(token) > 200:
            return False
        return hmac.compare_digest(signature.encode(), self._signature(nonce, binding).encode())


def is_form_content_type(content_type: str) -> bool:
    """Whether a Content-Type is one a browser sends from a plain form (or a script on
    another site without a preflight)."""
    return content_type.split(";", 1)[0].strip().lower() in _FORM_TYPES


def form_field(content_type: str, body: bytes, name: str) -> str | None:
    """The first value of field ``name`` in a form body of this Content-Type; None when it
    is absent or the body cannot be read as that kind of form."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                if key == name:
                    return value
        elif kind == "text/plain":
            # What a browser sends for enctype="text/plain": one "name=value" per line.
            for line in body.decode("utf-8").splitlines():
                key, equals, value = line.partition("=")
                if equals and key == name:
                    return value
        elif kind == "multipart/form-data":
            return _multipart_field(content_type, body, name)
    except (UnicodeDecodeError, ValueError):
        return None
    return None


def _multipart_field(content_type: str, body: bytes, name: str) -> str | None:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode("utf-8")
    return None
