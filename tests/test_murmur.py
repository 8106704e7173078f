"""MurmurHash3 x86_32 against published test vectors, and the rollout
recipe of the README computed by hand."""

from __future__ import annotations

import pytest

from axd.daemon.flags.evaluate import rollout_bucket, variant_point
from axd.daemon.flags.murmur import murmur3_32

# Vectors published with SMHasher's reference implementation and widely
# reproduced (e.g. the "MurmurHash3 test vectors" answer on Stack Overflow,
# and Guava's Murmur3_32HashFunctionTest).
VECTORS = [
    (b"", 0, 0),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\xff\xff\xff\xff", 0, 0x76293B50),
    (b"\x21\x43\x65\x87", 0, 0xF55B516B),
    (b"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE),
    (b"\x21\x43\x65", 0, 0x7E4A8634),
    (b"\x21\x43", 0, 0xA0F7B07A),
    (b"\x21", 0, 0x72661CF4),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"\x00\x00\x00", 0, 0x85F0B427),
    (b"\x00\x00", 0, 0x30F4C306),
    (b"\x00", 0, 0x514E28B7),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"aaa", 0x9747B28C, 0x283E0130),
    (b"aa", 0x9747B28C, 0x5D211726),
    (b"a", 0x9747B28C, 0x7FA09EA6),
    (b"abcd", 0x9747B28C, 0xF0478627),
    (b"abc", 0x9747B28C, 0xC84A62DD),
    (b"ab", 0x9747B28C, 0x74875592),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    ("ππππππππ".encode(), 0x9747B28C, 0xD58063C1),
    (b"a" * 256, 0x9747B28C, 0x37405BDC),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
]


@pytest.mark.parametrize(("data", "seed", "expected"), VECTORS)
def test_published_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected


def test_the_readme_example() -> None:
    # README "Feature flags": flag new-ui, subject user-42.
    assert murmur3_32(b"new-ui/user-42", 0) == 407120725
    assert rollout_bucket("new-ui", "user-42") == 725
    assert variant_point("new-ui", "user-42") == pytest.approx(0.44482, abs=1e-5)


def test_buckets_are_uniform_enough() -> None:
    counts = [0] * 10
    for i in range(20_000):
        counts[rollout_bucket("uniform", f"s{i}") // 1000] += 1
    assert all(1800 <= c <= 2200 for c in counts), counts
