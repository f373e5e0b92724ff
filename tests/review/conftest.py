"""Fixtures of the review app's tests: the UI tests' server (``ui_server``, in process or
live, on SQLite and PostgreSQL) and headless Chromium (``browser``, ``page``)."""

from __future__ import annotations

from ui.conftest import browser, page, ui_server

__all__ = ["browser", "page", "ui_server"]
