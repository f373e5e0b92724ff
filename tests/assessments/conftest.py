"""Fixtures of the SDK-level assessment tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay import _runtime
from assay.settings import Settings


@pytest.fixture
def rt(tracking_uri: str) -> Iterator[_runtime.Runtime]:
    """A fresh default runtime on the test's database (SQLite and PostgreSQL)."""
    runtime = _runtime.reset(Settings(tracking_uri=tracking_uri))
    yield runtime
    _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
    runtime.close()
