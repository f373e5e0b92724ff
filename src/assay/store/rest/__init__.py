"""The REST store: the SDK talking to an Assay server (``http://`` and ``https://`` URIs)."""

from __future__ import annotations

from assay.store.rest.store import ASSAY_API_KEY, RestStore

__all__ = ["ASSAY_API_KEY", "RestStore"]
