"""The server's OpenAPI document, committed as ``openapi.json`` beside this module.

Regenerate it after changing a route or a model::

    .venv/bin/python -m assay.server.openapi > src/assay/server/openapi.json

``tests/server/test_openapi.py`` fails when the committed file and the app disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.server.app import create_app
from assay.server.settings import ServerSettings
from assay.store import open_store

__all__ = ["COMMITTED_PATH", "openapi_document", "render"]

#: Where the committed document lives.
COMMITTED_PATH = Path(__file__).with_name("openapi.json")


def openapi_document() -> dict[str, Any]:
    """The document the app generates (over a throwaway in-memory store)."""
    store = open_store("sqlite:///:memory:")
    try:
        return create_app(ServerSettings(), store).openapi()
    finally:
        store.close()


def render(document: dict[str, Any]) -> str:
    """The document as the committed file holds it: sorted keys, two-space indents."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    print(render(openapi_document()), end="")


if __name__ == "__main__":
    main()
