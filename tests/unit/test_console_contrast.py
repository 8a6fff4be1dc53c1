"""WCAG 2.1 AA contrast (4.5:1 for text) of the console's colour pairs, read from the
stylesheet itself: the text and muted text on the page and card backgrounds, the white
severity badges, the state labels on a card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).parents[2] / "hub" / "console" / "static" / "console.css"
AA = 4.5


def variables() -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", CSS.read_text(encoding="utf-8"), re.S)
    assert root
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", root.group(1)))


def luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_contrast_formula_matches_wcags_reference_pairs() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just fails AA


@pytest.mark.parametrize(
    ("fg", "bg"),
    [
        ("text", "bg"),
        ("text", "card"),
        ("muted", "bg"),
        ("muted", "card"),
        ("acked", "card"),
        ("notified", "card"),
        ("raised", "card"),
        ("resolved", "card"),
        ("#ffffff", "critical"),
        ("#ffffff", "high"),
        ("#ffffff", "medium"),
        ("#ffffff", "low"),
        ("#ffffff", "navy"),
    ],
)
def test_console_text_meets_wcag_aa(fg: str, bg: str) -> None:
    v = variables()
    a, b = v.get(fg, fg), v.get(bg, bg)
    assert contrast(a, b) >= AA, f"{fg} on {bg}: {contrast(a, b):.2f}"
