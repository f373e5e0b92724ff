"""Screenshots of the pages the browser tests open, for a person to look at.

Taken only when ``ASSAY_TEST_SCREENSHOT_DIR`` names a folder (``<name>.png`` there): nothing
reads them otherwise, and a full-page screenshot costs a few tenths of a second, more than
many of the tests' own steps. The documentation's images are made by their own tests
(``ASSAY_TEST_SCREENSHOTS=1``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["SCREENSHOT_DIR_ENV", "keep_screenshot"]

SCREENSHOT_DIR_ENV = "ASSAY_TEST_SCREENSHOT_DIR"


def keep_screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save what ``page`` shows as ``<name>.png`` in the screenshot folder, if one is set:
    the whole page, or with ``full_page=False`` the window alone (what is seen without
    scrolling)."""
    where = os.environ.get(SCREENSHOT_DIR_ENV)
    if not where:
        return
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
