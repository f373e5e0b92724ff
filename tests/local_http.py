"""What the tests' HTTP clients share.

httpx builds a TLS context for every client it makes, loading the certificate authorities
again (about 20 ms of CPU each); the tests make a few thousand clients, nearly all to their
own plain-HTTP servers. They share this one instead (as the REST store shares its own).
"""

from __future__ import annotations

import httpx

__all__ = ["LOCAL_TLS"]

LOCAL_TLS = httpx.create_ssl_context()
