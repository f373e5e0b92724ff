"""Fixtures of the SQL store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine


@pytest.fixture
def db(tracking_uri: str, store: SqlStore) -> Iterator[sa.Engine]:
    """A second, plain engine on the store's database, to look at the rows themselves."""
    engine, _ = create_engine(tracking_uri)
    yield engine
    engine.dispose()
