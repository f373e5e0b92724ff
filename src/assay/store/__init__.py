"""Storage: the Store interface and the tracking URI that picks an implementation.

Importing this package does not import SQLAlchemy; the SQL store is loaded when a SQL
tracking URI is first used.
"""

from __future__ import annotations

from assay.store.base import Store
from assay.store.uri import DEFAULT_TRACKING_URI, open_store

__all__ = ["DEFAULT_TRACKING_URI", "Store", "open_store"]
