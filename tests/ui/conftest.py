"""Fixtures of the web UI's tests: ``ui_server``, the server over a fresh store (SQLite and
PostgreSQL), and ``browser``, headless Chromium driven by Playwright.

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

import pytest

from assay.store.sql import SqlStore
from server.live import Served, in_process, live

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
def ui_server(request: pytest.FixtureRequest, sql_store: SqlStore) -> Iterator[Served]:
    """The server over the ``sql_store`` fixture's database (SQLite and PostgreSQL), with an
    httpx client that asks for HTML the way a browser does. In this process, unless the test
    drives a browser (it takes ``page`` or ``browser``) or is marked ``live_server``: then
    real uvicorn serves it on 127.0.0.1."""
    browses = not {"page", "browser"}.isdisjoint(request.fixturenames)
    serve = live if browses or request.node.get_closest_marker("live_server") else in_process
    with serve(sql_store, headers={"Accept": "text/html,application/xhtml+xml"}) as served:
        yield served


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
