"""Fixtures of the SQL store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from assay.store.base import Store
from assay.store.sql.engine import create_engine
from conftest import Backend


@pytest.fixture
def db(backend: Backend, store: Store) -> Iterator[sa.Engine]:
    """A second, plain engine on the store's database, to look at the rows themselves."""
    engine, _ = create_engine(backend.database_uri)
    yield engine
    engine.dispose()
