"""A minimal JPEG Lossless (ITU T.81 process 14, selection value 1) encoder, for tests only.

pydicom can decode JPEG Lossless (through pylibjpeg-libjpeg) but has no encoder for it, and the
pydicom test file that uses it is not shipped in the wheel. The format is simple enough to write:
predict each sample from its left neighbour (the row above for the first column), and Huffman-code
the difference categories with a fixed table of 5-bit codes.
"""

from __future__ import annotations

import numpy as np


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def encode_jpeg_lossless(image: np.ndarray, precision: int = 16) -> bytes:
    """Encode a 2-D unsigned image (values < 2**precision) as a JPEG Lossless SV1 codestream."""
    rows, cols = image.shape
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[:, 1:] = x[:, :-1]  # Ra: left neighbour
    pred[1:, 0] = x[:-1, 0]  # first column: Rb, the sample above
    pred[0, 0] = 1 << (precision - 1)
    modulus = 1 << 16
    diff = (x - pred) % modulus
    diff[diff >= modulus // 2] -= modulus  # now in [-32768, 32767]
    header = b"\xff\xd8"
    header += _segment(
        0xC3, bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    )
    counts = [0] * 16
    counts[4] = 17  # seventeen symbols (categories 0..16), all with 5-bit codes 0..16
    header += _segment(0xC4, bytes([0x00]) + bytes(counts) + bytes(range(17)))
    header += _segment(0xDA, bytes([1, 1, 0x00, 1, 0, 0]))
    out = bytearray()
    acc, nbits = 0, 0

    def put(value: int, length: int) -> None:
        nonlocal acc, nbits
        acc = (acc << length) | (value & ((1 << length) - 1))
        nbits += length
        while nbits >= 8:
            nbits -= 8
            byte = (acc >> nbits) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0x00)  # byte stuffing
        acc &= (1 << nbits) - 1

    for d in diff.ravel().tolist():
        if d == -32768:  # category 16 stands for a difference of 32768, with no extra bits
            put(16, 5)
            continue
        size = abs(d).bit_length()
        put(size, 5)
        if size:
            put(d if d > 0 else d - 1, size)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)  # pad with one bits
    return header + bytes(out) + b"\xff\xd9"
