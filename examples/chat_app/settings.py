"""The chat app's settings (:mod:`assay.examples.chat_app.settings`, where the environment
variables are listed)."""

from __future__ import annotations

from assay.examples.chat_app.settings import ChatAppSettings

__all__ = ["ChatAppSettings"]
