"""Fixtures of the review app's tests: the UI tests' server (``ui_server``, in process or
live, on SQLite and PostgreSQL); headless Chromium (``browser``, ``page``) comes from the
root conftest."""

from __future__ import annotations

from ui.conftest import ui_server

__all__ = ["ui_server"]
