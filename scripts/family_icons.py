"""Draw the family page's app icons (hub/family/static/icon-*.png, icon.svg): a white
cross on the brand's teal, no external assets. Pure Python (zlib), so it needs nothing
installed; run it after changing the design:

    python scripts/family_icons.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "hub" / "family" / "static"
TEAL = (0x0B, 0x5E, 0x55)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # per axis, for smooth edges


def _inside_rounded(x: float, y: float, size: float, radius: float) -> bool:
    cx = min(max(x, radius), size - radius)
    cy = min(max(y, radius), size - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _inside_cross(x: float, y: float, size: float, scale: float) -> bool:
    arm = 0.16 * size * scale  # half the bar's width
    reach = 0.30 * size * scale  # half the bar's length
    c = size / 2
    dx, dy = abs(x - c), abs(y - c)
    return (dx <= arm and dy <= reach) or (dy <= arm and dx <= reach)


def draw(size: int, *, maskable: bool) -> bytes:
    """RGBA rows. Maskable: the teal fills the square and the cross sits in the safe zone
    (the inner 80 %); else a rounded square on transparency."""
    radius = 0.0 if maskable else 0.19 * size
    scale = 0.8 if maskable else 1.0
    rows = bytearray()
    step = 1.0 / SAMPLES
    for py in range(size):
        rows.append(0)  # filter: none
        for px in range(size):
            bg = cross = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x, y = px + (sx + 0.5) * step, py + (sy + 0.5) * step
                    if maskable or _inside_rounded(x, y, size, radius):
                        bg += 1
                        if _inside_cross(x, y, size, scale):
                            cross += 1
            n = SAMPLES * SAMPLES
            alpha = bg / n
            if bg == 0:
                rows += bytes((0, 0, 0, 0))
                continue
            w = cross / bg
            rgb = tuple(round(TEAL[i] * (1 - w) + WHITE[i] * w) for i in range(3))
            rows += bytes((*rgb, round(alpha * 255)))
    return bytes(rows)


def png(size: int, rgba: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba, 9))
        + chunk(b"IEND", b"")
    )


SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
<rect width="512" height="512" rx="97" fill="#0b5e55"/>
<rect x="174" y="102" width="164" height="308" fill="#fff"/>
<rect x="102" y="174" width="308" height="164" fill="#fff"/>
</svg>
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size, maskable, name in (
        (192, False, "icon-192.png"),
        (512, False, "icon-512.png"),
        (512, True, "icon-maskable-512.png"),
    ):
        (OUT / name).write_bytes(png(size, draw(size, maskable=maskable)))
        print(f"wrote {OUT / name}")
    (OUT / "icon.svg").write_text(SVG)
    print(f"wrote {OUT / 'icon.svg'}")


if __name__ == "__main__":
    main()
