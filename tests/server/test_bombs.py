"""The decompression bombs the limit tests send are what they claim: small as sent, and
``mib`` MiB of zeros once inflated (read a slice at a time, as a careful server would)."""

from __future__ import annotations

import zlib

import pytest

from server.bombs import MIB, zeros_bomb

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_bomb_is_small_and_inflates_to_its_zeros(encoding: str) -> None:
    bomb = zeros_bomb(256, encoding)
    assert len(bomb) < 256 * 1024
    inflater = zlib.decompressobj(_WBITS[encoding])  # checks the header and the checksum
    inflated, pending = 0, bomb
    while pending:
        part = inflater.decompress(pending, 16 * MIB)
        assert part.count(0) == len(part), "a byte that is not zero"
        inflated += len(part)
        pending = inflater.unconsumed_tail
    inflated += len(inflater.flush())
    assert inflater.eof and not inflater.unused_data
    assert inflated == 256 * MIB


def test_a_bomb_is_a_whole_number_of_blocks() -> None:
    with pytest.raises(ValueError, match="multiple of 8 MiB"):
        zeros_bomb(12, "gzip")
    with pytest.raises(ValueError, match="no 'br' bombs"):
        zeros_bomb(8, "br")
