"""Issuing a browser feedback token through any store: the SQL store signs with the
database's key, the REST store asks the server, which signs with the same kind of key."""

from __future__ import annotations

import time

import pytest

from assay.errors import InvalidParameterError
from assay.feedback_tokens import unverified_claims, verify_token
from assay.store.base import Store
from assay.store.sql import SqlStore
from conftest import Backend
from factories import make_trace


def test_a_token_names_its_trace_names_user_and_expiry(store: Store, backend: Backend) -> None:
    trace = make_trace()
    store.log_traces([trace])
    before = int(time.time() * 1000)
    token = store.create_feedback_token(trace.info.trace_id, names=["thumbs", "comment"],
                                        end_user_id="user-7", expires_in=600)
    claims = unverified_claims(token)
    assert claims.trace_id == trace.info.trace_id
    assert claims.names == ("thumbs", "comment")
    assert claims.end_user_id == "user-7"
    assert before + 590_000 <= claims.expires_at_ms <= before + 610_000 + 5_000
    # Whoever holds the database's key (every server process over it) accepts it.
    database = SqlStore(backend.database_uri)
    try:
        assert verify_token(database.signing_key("feedback_token"), token).trace_id \
            == trace.info.trace_id
    finally:
        database.close()


@pytest.mark.parametrize("kwargs", [{"expires_in": 0}, {"expires_in": 31 * 86_400},
                                    {"names": []}, {"names": [""]}])
def test_arguments_out_of_range_are_refused(store: Store, kwargs: dict[str, object]) -> None:
    trace = make_trace()
    with pytest.raises(InvalidParameterError):
        store.create_feedback_token(trace.info.trace_id, **kwargs)  # type: ignore[arg-type]
