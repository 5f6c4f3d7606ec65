"""Colour strings of the wire format."""

from __future__ import annotations


def parse_color(value: str) -> tuple[int, int, int, int]:
    """``#RRGGBB[AA]`` -> (B, G, R, A), OpenCV's channel order; alpha defaults to opaque."""
    digits = value.lstrip("#")
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    a = int(digits[6:8], 16) if len(digits) == 8 else 255
    return b, g, r, a
