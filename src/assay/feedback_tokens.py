"""Feedback tokens: what an app's backend gives an end user's browser so that it can vote on
one trace without holding a secret key.

A token is ``v1.<claims>.<signature>``: the claims are base64url (no padding) JSON, the
signature is base64url HMAC-SHA256 of ``v1.<claims>`` under a server key (the store keeps one,
created on first use). The claims say which trace, which feedback names (all when ``names``
is None), which end user (``end_user_id``; None lets the token itself stand for one
anonymous user), until when, and carry a random token id for per-token rate limits. A token
is not encrypted: the browser can read its claims, so they hold nothing private.

:func:`verify_token` checks the signature first (in constant time) and the expiry second,
and raises a :class:`FeedbackTokenError` that says which check failed. This module does no
I/O; the key comes from the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assay.entities._checks import MAX_ID_CHARS, check_text
from assay.entities._time import ms_to_rfc3339, now_ms
from assay.entities.assessment import MAX_NAME_CHARS
from assay.errors import AuthenticationError, InvalidParameterError, PermissionDeniedError
from assay.ids import check_trace_id, is_trace_id

__all__ = [
    "FEEDBACK_TOKEN_PURPOSE",
    "MAX_EXPIRES_IN_SECONDS",
    "MAX_TOKEN_CHARS",
    "FeedbackTokenError",
    "FeedbackTokenScopeError",
    "TokenClaims",
    "issue_token",
    "unverified_claims",
    "verify_token",
]

#: The purpose of the signing key of feedback tokens, in the store's ``signing_keys``.
FEEDBACK_TOKEN_PURPOSE = "feedback_token"
#: The longest a token may stay valid: 30 days.
MAX_EXPIRES_IN_SECONDS = 30 * 24 * 3600
#: The longest token accepted; a longer one is malformed without further reading.
MAX_TOKEN_CHARS = 16_384
#: The most feedback names one token may allow.
MAX_NAMES = 100
#: The shortest signing key accepted, in bytes.
MIN_KEY_BYTES = 16

_VERSION = "v1"
_TOKEN_ID_BYTES = 16


class FeedbackTokenError(AuthenticationError):
    """A feedback token that cannot be used: malformed, tampered with, or expired (401).

    ``reason`` says which; the message says it in words, and never repeats the token.
    """

    def __init__(self, reason: Literal["malformed", "tampered", "expired"],
                 message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FeedbackTokenScopeError(PermissionDeniedError):
    """A valid feedback token used for something it does not allow: another trace (403)."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified feedback token allows.

    Attributes:
        trace_id: the one trace it may give feedback on.
        names: the feedback names it allows, or None for any name.
        end_user_id: who votes, as the app knows them; None when the app did not say.
        expires_at_ms: when it stops being accepted (milliseconds since the epoch).
        token_id: random, unique per token: the key of its rate limit.
        experiment_id: the experiment of the trace, when it was stored as the token was
            issued.
    """

    trace_id: str
    names: tuple[str, ...] | None
    end_user_id: str | None
    expires_at_ms: int
    token_id: str
    experiment_id: str | None = None

    @property
    def voter_id(self) -> str:
        """Who votes: the end user, or the token itself when it names none. A second vote
        by the same voter on the same trace and name replaces the first."""
        return self.end_user_id if self.end_user_id is not None else f"token:{self.token_id}"

    def allows(self, name: str) -> bool:
        """Whether the token allows feedback with this name."""
        return self.names is None or name in self.names


def issue_token(key: bytes, trace_id: str, names: Sequence[str] | None = None,
                end_user_id: str | None = None, expires_in: float = 3600,
                experiment_id: str | None = None, *, now: int | None = None) -> str:
    """A signed token that lets its holder give feedback on one trace.

    Args:
        key: the signing key (at least 16 bytes).
        trace_id: the trace (``tr-`` and 32 hex digits); it need not be stored yet.
        names: the feedback names allowed (a non-empty list); None allows any name.
        end_user_id: the end user, as the app knows them; their second vote on a name
            replaces their first. None: the token stands for one anonymous user.
        expires_in: seconds until it expires, more than 0 and at most 30 days.
        experiment_id: the trace's experiment, if known; a vote is refused on a trace
            stored in another experiment.
        now: the current time in milliseconds (default: the clock).

    Raises:
        InvalidParameterError: an argument out of range, naming it.
    """
    _check_key(key)
    check_trace_id(trace_id)
    allowed = _check_names(names)
    if end_user_id is not None:
        check_text("end_user_id", end_user_id, MAX_ID_CHARS)
    if experiment_id is not None:
        check_text("experiment_id", experiment_id, MAX_ID_CHARS)
    issued_at = now_ms() if now is None else now
    claims: dict[str, Any] = {
        "trace_id": trace_id,
        "names": None if allowed is None else list(allowed),
        "end_user_id": end_user_id,
        "expires_at_ms": issued_at + _check_expires_in(expires_in),
        "token_id": secrets.token_hex(_TOKEN_ID_BYTES),
        "experiment_id": experiment_id,
    }
    body = _b64encode(json.dumps(claims, ensure_ascii=False, separators=(",", ":"),
                                 sort_keys=True).encode())
    token = f"{_VERSION}.{body}.{_signature(key, body)}"
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidParameterError(
            f"Invalid names: the token would be {len(token):,} characters long; the limit is "
            f"{MAX_TOKEN_CHARS:,} (allow fewer or shorter names, or None for any)")
    return token


def verify_token(key: bytes, token: object, now: int | None = None) -> TokenClaims:
    """The claims of a token this key signed, if it has not expired.

    Args:
        key: the signing key the token was issued with.
        token: what the browser sent.
        now: the current time in milliseconds (default: the clock).

    Raises:
        FeedbackTokenError: ``reason`` "malformed" (not a token of this form), "tampered"
            (the signature does not match: changed, or signed with another key) or
            "expired".
    """
    _check_key(key)
    if not isinstance(token, str) or not token:
        raise FeedbackTokenError("malformed", "Malformed feedback token: expected a non-empty "
                                              "string")
    if len(token) > MAX_TOKEN_CHARS:
        raise FeedbackTokenError("malformed", f"Malformed feedback token: longer than "
                                              f"{MAX_TOKEN_CHARS:,} characters")
    if not token.isascii():
        raise FeedbackTokenError("malformed", "Malformed feedback token: it contains "
                                              "characters a token never holds")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise FeedbackTokenError("malformed", "Malformed feedback token: expected "
                                              "'v1.<claims>.<signature>'")
    version, body, signature = parts
    if version != _VERSION:
        raise FeedbackTokenError("malformed", "Malformed feedback token: unknown version "
                                              "(expected 'v1')")
    # Compared as text: only the exact encoding the key produces is accepted, and
    # compare_digest takes the same time wherever the first difference is.
    if not hmac.compare_digest(_signature(key, body).encode(), signature.encode()):
        raise FeedbackTokenError("tampered", "Invalid feedback token: its signature does not "
                                             "match (it was changed, or issued by another "
                                             "server)")
    claims = _decode_claims(body)
    current = now_ms() if now is None else now
    if current >= claims.expires_at_ms:
        raise FeedbackTokenError("expired", f"Expired feedback token: it expired at "
                                            f"{ms_to_rfc3339(claims.expires_at_ms)}")
    return claims


def unverified_claims(token: str) -> TokenClaims:
    """The claims of a token, read without checking its signature or expiry: what the
    issuer (or the browser holding it) may know, never a reason to accept it.

    Raises:
        FeedbackTokenError: "malformed" for anything that is not a token of this form.
    """
    parts = token.split(".") if isinstance(token, str) and token.isascii() else []
    if len(parts) != 3 or parts[0] != _VERSION or not all(parts):
        raise FeedbackTokenError("malformed", "Malformed feedback token: expected "
                                              "'v1.<claims>.<signature>'")
    return _decode_claims(parts[1])


# -- helpers ---------------------------------------------------------------------------------

def _signature(key: bytes, body: str) -> str:
    return _b64encode(hmac.new(key, f"{_VERSION}.{body}".encode(), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_claims(body: str) -> TokenClaims:
    """The claims of a correctly signed body. Only a key that signed something else than
    :func:`issue_token` produces could fail here, so every failure is "malformed"."""
    try:
        claims = json.loads(_b64decode(body))
    except (binascii.Error, ValueError):
        claims = None
    if not isinstance(claims, dict):
        raise FeedbackTokenError("malformed", "Malformed feedback token: its claims are not "
                                              "a JSON object")
    trace_id = claims.get("trace_id")
    names = claims.get("names")
    end_user_id = claims.get("end_user_id")
    expires_at = claims.get("expires_at_ms")
    token_id = claims.get("token_id")
    experiment_id = claims.get("experiment_id")
    if not (is_trace_id(trace_id)
            and (names is None or (isinstance(names, list)
                                   and all(isinstance(n, str) for n in names)))
            and (end_user_id is None or isinstance(end_user_id, str))
            and isinstance(expires_at, int) and not isinstance(expires_at, bool)
            and isinstance(token_id, str) and token_id
            and (experiment_id is None or isinstance(experiment_id, str))):
        raise FeedbackTokenError("malformed", "Malformed feedback token: its claims lack a "
                                              "field or have one of the wrong type")
    assert isinstance(trace_id, str)
    return TokenClaims(trace_id=trace_id, names=None if names is None else tuple(names),
                       end_user_id=end_user_id, expires_at_ms=expires_at, token_id=token_id,
                       experiment_id=experiment_id)


def _check_key(key: object) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidParameterError(
            f"Invalid signing key: expected at least {MIN_KEY_BYTES} bytes")


def _check_names(names: Sequence[str] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise InvalidParameterError(
            f"Invalid names {names!r}: expected a list of feedback names (or None for any "
            "name), not one string")
    if not names:
        raise InvalidParameterError(
            "Invalid names []: a token must allow at least one name (None allows any)")
    if len(names) > MAX_NAMES:
        raise InvalidParameterError(
            f"Invalid names: {len(names)} names; a token allows at most {MAX_NAMES}")
    for name in names:
        check_text("names[]", name, MAX_NAME_CHARS)
        if not name.strip():
            raise InvalidParameterError(f"Invalid names[] {name!r}: a name must not be blank")
    return tuple(dict.fromkeys(names))


def _check_expires_in(expires_in: object) -> int:
    """``expires_in`` seconds as milliseconds, if within (0, 30 days]."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) \
            or not 0 < expires_in <= MAX_EXPIRES_IN_SECONDS:
        raise InvalidParameterError(
            f"Invalid expires_in {expires_in!r}: expected seconds, more than 0 and at most "
            f"{MAX_EXPIRES_IN_SECONDS:,} (30 days)")
    return max(1, round(expires_in * 1000))
