"""The store split by capability: what every store does (Store) and what only a server's does
(pending assessments, signing keys, accounts), and a server that refuses a store without them
when it starts."""

from __future__ import annotations

import inspect

import pytest

import assay.store.uri
from assay.errors import InvalidParameterError
from assay.server import ServerSettings, create_app
from assay.store import (
    Accounts,
    PendingAssessments,
    ServerStore,
    SigningKeys,
    Store,
    open_store,
    server_store,
)
from assay.store.rest import RestStore
from assay.store.sql import SqlStore

CAPABILITIES = (PendingAssessments, SigningKeys, Accounts)


def protocol_methods(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction)
            if not name.startswith("_")}


def test_the_sql_store_has_every_capability(sql_store: SqlStore) -> None:
    assert isinstance(sql_store, ServerStore)
    for capability in CAPABILITIES:
        assert isinstance(sql_store, capability)
    assert server_store(sql_store) is sql_store


def test_the_rest_store_has_none_and_no_method_of_theirs() -> None:
    rest = RestStore("http://127.0.0.1:9", retry_seconds=0)
    try:
        assert isinstance(rest, Store)
        for capability in CAPABILITIES:
            assert not isinstance(rest, capability)
            assert not protocol_methods(capability) & set(dir(rest))
        with pytest.raises(InvalidParameterError,
                           match="lacks pending assessments, signing keys, accounts"):
            server_store(rest)
    finally:
        rest.close()


def test_store_declares_no_server_side_method() -> None:
    server_side = set().union(*(protocol_methods(c) for c in CAPABILITIES))
    assert server_side >= {"log_vote", "signing_key", "create_user", "verify_api_key"}
    assert not server_side & set(dir(Store))


def test_a_server_over_a_rest_store_is_refused_when_it_is_created() -> None:
    rest = RestStore("http://127.0.0.1:9", retry_seconds=0)
    try:
        with pytest.raises(InvalidParameterError, match=r"A server needs a store that keeps "
                                                        r"pending assessments.*RestStore"):
            create_app(ServerSettings(), rest)
    finally:
        rest.close()


def test_open_store_keeps_its_old_import_path(sqlite_uri: str) -> None:
    assert assay.store.uri.open_store is open_store
    opened = assay.store.uri.open_store(sqlite_uri)
    try:
        assert isinstance(opened, SqlStore)
    finally:
        opened.close()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        assay.store.uri.nothing  # noqa: B018
