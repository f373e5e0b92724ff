"""Fixtures of the web UI's tests: ``ui_server``, a real uvicorn server over a fresh store
(SQLite and PostgreSQL), and ``browser``, headless Chromium driven by Playwright.

Chromium is the system's (``/usr/bin/chromium``, or ``ASSAY_TEST_CHROMIUM``); nothing is
downloaded. Without it (or without the ``playwright`` package) browser tests are skipped with
the reason, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import httpx
import pytest

from assay.store.sql import SqlStore
from server.live import LiveServer, Served

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ENV = "ASSAY_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


def _chromium_path() -> str | None:
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if Path(path).is_file():
        return path
    return shutil.which("chromium")


@pytest.fixture
def ui_server(sql_store: SqlStore) -> Iterator[Served]:
    """A real server over the ``sql_store`` fixture's database (SQLite and PostgreSQL), with
    an httpx client that asks for HTML the way a browser does."""
    live = LiveServer(sql_store)
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30,
                          headers={"Accept": "text/html,application/xhtml+xml"}) as http:
            yield Served(sql_store, http, live.url)
    finally:
        live.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the whole test session."""
    executable = _chromium_path()
    if executable is None:
        _skip_or_fail(f"Chromium not found at {DEFAULT_CHROMIUM} (apt-get install chromium) "
                      f"or {CHROMIUM_ENV}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab the size of a laptop screen (1366 by 768)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()
