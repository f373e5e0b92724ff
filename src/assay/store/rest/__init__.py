"""The REST store: the SDK talking to an Assay server (``http://`` and ``https://`` URIs).

The store and its HTTP client load when first named (``assay.store.rest.RestStore``), not when
a module of this package is imported: the server reads the SDK's OTLP conventions from
:mod:`assay.store.rest.otlp` and needs no HTTP client (httpx, with its command line's
dependencies when they are installed, costs 40 to 200 ms to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.store.rest.store import ASSAY_API_KEY, RestStore

__all__ = ["ASSAY_API_KEY", "RestStore"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from assay.store.rest import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
