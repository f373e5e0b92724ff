"""Feedback tokens (``assay.feedback_tokens``): what they carry, and that no change to one, or
anything else sent in its place, is accepted."""

from __future__ import annotations

import base64
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import InvalidParameterError
from assay.feedback_tokens import (
    MAX_EXPIRES_IN_SECONDS,
    FeedbackTokenError,
    TokenClaims,
    issue_token,
    unverified_claims,
    verify_token,
)
from factories import new_trace_id

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_750_000_000_000
TRACE_ID = "tr-" + "ab" * 16
TOKEN = issue_token(KEY, TRACE_ID, names=["thumbs", "comment"], end_user_id="user-7",
                    expires_in=600, experiment_id="3", now=NOW)


def test_a_token_carries_its_claims() -> None:
    claims = verify_token(KEY, TOKEN, now=NOW + 1)
    assert claims == TokenClaims(trace_id=TRACE_ID, names=("thumbs", "comment"),
                                 end_user_id="user-7", expires_at_ms=NOW + 600_000,
                                 token_id=claims.token_id, experiment_id="3")
    assert len(claims.token_id) == 32
    assert claims.voter_id == "user-7"
    assert claims.allows("thumbs") and not claims.allows("stars")
    assert unverified_claims(TOKEN) == claims
    assert TOKEN.startswith("v1.") and TOKEN.count(".") == 2


def test_a_token_without_names_or_end_user_allows_any_name_for_itself() -> None:
    claims = verify_token(KEY, issue_token(KEY, TRACE_ID, now=NOW), now=NOW)
    assert claims.names is None and claims.allows("anything")
    assert claims.end_user_id is None
    assert claims.voter_id == f"token:{claims.token_id}"
    assert claims.expires_at_ms == NOW + 3_600_000


def test_each_token_has_its_own_id() -> None:
    ids = {verify_token(KEY, issue_token(KEY, TRACE_ID, now=NOW), now=NOW).token_id
           for _ in range(50)}
    assert len(ids) == 50


def test_expiry_is_exact() -> None:
    expires_at = NOW + 600_000
    verify_token(KEY, TOKEN, now=expires_at - 1)
    with pytest.raises(FeedbackTokenError, match="Expired") as caught:
        verify_token(KEY, TOKEN, now=expires_at)
    assert caught.value.reason == "expired"


def test_another_key_does_not_verify() -> None:
    with pytest.raises(FeedbackTokenError, match="signature") as caught:
        verify_token(OTHER_KEY, TOKEN, now=NOW)
    assert caught.value.reason == "tampered"


def _swap_claims(token: str, **changes: object) -> str:
    """The token with its claims changed and its signature kept, as a forger would try."""
    version, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{signature}"


@pytest.mark.parametrize("changes", [
    {"trace_id": new_trace_id()}, {"names": None}, {"end_user_id": "someone-else"},
    {"expires_at_ms": NOW + 10**12},
])
def test_changed_claims_are_tampered(changes: dict[str, object]) -> None:
    with pytest.raises(FeedbackTokenError, match="signature") as caught:
        verify_token(KEY, _swap_claims(TOKEN, **changes), now=NOW)
    assert caught.value.reason == "tampered"


@pytest.mark.parametrize("token", [
    "", "v1", "v1..", "v1.a.b.c", "v2" + TOKEN[2:], TOKEN.replace(".", "", 1), "é" + TOKEN,
    "x" * 20_000, 42, None,
])
def test_malformed_tokens_say_so(token: object) -> None:
    with pytest.raises(FeedbackTokenError, match="Malformed") as caught:
        verify_token(KEY, token, now=NOW)
    assert caught.value.reason == "malformed"
    assert "user-7" not in caught.value.message


_CHARS = string.ascii_letters + string.digits + "-_.=+/ é\x00"


@settings(max_examples=400, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(TOKEN) - 1),
       replacement=st.sampled_from(_CHARS))
def test_no_changed_character_is_accepted(position: int, replacement: str) -> None:
    changed = TOKEN[:position] + replacement + TOKEN[position + 1:]
    if changed == TOKEN:
        return
    with pytest.raises(FeedbackTokenError):
        verify_token(KEY, changed, now=NOW)


@settings(max_examples=200, deadline=None)
@given(part=st.sampled_from([1, 2]), data=st.data())
def test_no_flipped_byte_in_claims_or_signature_is_accepted(part: int,
                                                            data: st.DataObject) -> None:
    # Decode the part, flip one bit of one byte, encode it again: a well-formed token whose
    # claims (part 1) or signature (part 2) differ from what was signed.
    pieces = TOKEN.split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[index] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(FeedbackTokenError) as caught:
        verify_token(KEY, ".".join(pieces), now=NOW)
    assert caught.value.reason == "tampered"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"v1\.[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,60}"))
def test_random_text_is_never_a_token(text: str) -> None:
    with pytest.raises(FeedbackTokenError):
        verify_token(KEY, text, now=NOW)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=1, max_value=len(TOKEN) - 1))
def test_a_truncated_or_extended_token_is_refused(cut: int) -> None:
    for changed in (TOKEN[:cut], TOKEN + TOKEN[:cut]):
        with pytest.raises(FeedbackTokenError):
            verify_token(KEY, changed, now=NOW)


@pytest.mark.parametrize("kwargs, field", [
    ({"trace_id": "tr-123"}, "trace_id"),
    ({"trace_id": "TR-" + "AB" * 16}, "trace_id"),
    ({"names": []}, "names"),
    ({"names": "thumbs"}, "names"),
    ({"names": [""]}, "names"),
    ({"names": ["  "]}, "names"),
    ({"names": [7]}, "names"),
    ({"names": ["n"] * 101}, "names"),
    ({"names": ["n" * 251]}, "names"),
    ({"end_user_id": ""}, "end_user_id"),
    ({"end_user_id": "u" * 251}, "end_user_id"),
    ({"expires_in": 0}, "expires_in"),
    ({"expires_in": -5}, "expires_in"),
    ({"expires_in": MAX_EXPIRES_IN_SECONDS + 1}, "expires_in"),
    ({"expires_in": float("inf")}, "expires_in"),
    ({"expires_in": float("nan")}, "expires_in"),
    ({"expires_in": True}, "expires_in"),
    ({"key": b"short"}, "key"),
])
def test_bad_arguments_are_refused_naming_them(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"key": KEY, "trace_id": TRACE_ID, **kwargs}
    with pytest.raises(InvalidParameterError, match=field):
        issue_token(**arguments)  # type: ignore[arg-type]


def test_longest_expiry_and_duplicate_names() -> None:
    token = issue_token(KEY, TRACE_ID, names=["a", "b", "a"],
                        expires_in=MAX_EXPIRES_IN_SECONDS, now=NOW)
    claims = verify_token(KEY, token, now=NOW)
    assert claims.names == ("a", "b")
    assert claims.expires_at_ms == NOW + MAX_EXPIRES_IN_SECONDS * 1000


def test_unverified_claims_refuse_what_is_not_a_token() -> None:
    for text in ("", "v1.a", "nonsense", "v1.%%%.sig"):
        with pytest.raises(FeedbackTokenError, match="Malformed"):
            unverified_claims(text)
