"""The chat app, runnable: from the repository root, ``uvicorn examples.chat_app.main:app
--port 8001`` (see ``README.md`` in this folder).

Its code is :mod:`assay.examples.chat_app`, shipped with Assay so that ``assay demo`` can drive
it from an installed package too; this module builds the app from the environment.
"""

from __future__ import annotations

from assay.examples.chat_app.main import create_app

__all__ = ["app", "create_app"]

app = create_app()
