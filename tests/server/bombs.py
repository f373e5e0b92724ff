"""Decompression bombs: request bodies of a few hundred KB that inflate to hundreds of MB of
zeros, gzip- or zlib-wrapped (the ``gzip`` and ``deflate`` content encodings).

Compressing 256 MiB of zeros takes over a second; the same bytes come from compressing once.
Each 8 MiB of zeros is compressed on its own (a full flush ends its output on a byte boundary
and forgets the data before it), so every 8 MiB compresses to the same bytes: one block,
repeated, between the wrapper's header and its checksum of the whole.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["MIB", "zeros_bomb"]

MIB = 1024 * 1024
_BLOCK = 8 * MIB

_BOMBS: dict[tuple[int, str], bytes] = {}


def zeros_bomb(mib: int, encoding: str) -> bytes:
    """``mib`` MiB of zeros (a multiple of 8), compressed about 1,000 to 1 with the
    ``encoding`` (``gzip`` or ``deflate``)."""
    if mib % (_BLOCK // MIB) or mib <= 0:
        raise ValueError(f"a bomb is a positive multiple of {_BLOCK // MIB} MiB, not {mib}")
    if encoding not in ("gzip", "deflate"):
        raise ValueError(f"no {encoding!r} bombs: gzip or deflate")
    key = (mib, encoding)
    if key not in _BOMBS:
        zeros = bytes(_BLOCK)
        blocks = mib * MIB // _BLOCK
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
        block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # the final block
        deflated = block * blocks + last
        if encoding == "gzip":  # RFC 1952: header, data, CRC-32 and size of what inflates
            crc = 0
            for _ in range(blocks):
                crc = zlib.crc32(zeros, crc)
            _BOMBS[key] = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflated
                           + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF))
        else:  # RFC 1950: header (deflate, best compression), data, Adler-32
            adler = 1
            for _ in range(blocks):
                adler = zlib.adler32(zeros, adler)
            _BOMBS[key] = b"\x78\xda" + deflated + struct.pack(">I", adler)
    return _BOMBS[key]
