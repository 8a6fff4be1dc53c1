"""The edge's own SMS texts (edge.sms_texts): short, plain GSM-7, Dutch by default."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from edge.drivers.gsm import check_text
from edge.sms_texts import alarm_sms, plain, split
from sensors.contract import AlarmKind

TZ = ZoneInfo("Europe/Amsterdam")
T = 1_764_000_000.0  # 2025-11-24 17:00 in Amsterdam


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("kind", list(AlarmKind))
def test_every_text_fits_one_sms_even_with_the_longest_label(kind: AlarmKind, lang: str) -> None:
    [text] = alarm_sms(kind, T, TZ, "L" * 40, lang)
    assert check_text(text) == text and "17:00" in text


def test_dutch_by_default_and_nothing_medical() -> None:
    [nl] = alarm_sms(AlarmKind.VITALS, T, TZ, "", "fr")
    assert nl.startswith("Alarm Mobiele Zorg: metingen wijken af (17:00).")
    assert "NEWS" not in nl and "SpO2" not in nl


def test_plain_drops_accents_and_unsafe_characters() -> None:
    assert plain("Café Ëlsa_{x}") == "Cafe Elsa x"
    assert plain("a@b") == "a b"


def test_long_texts_are_split_into_numbered_parts_of_whole_words() -> None:
    words = " ".join(f"woord{i}" for i in range(60))
    parts = split(words)
    n = len(parts)
    assert n > 2 and all(len(p) <= 160 for p in parts)
    assert [p.split(" ", 1)[0] for p in parts] == [f"{i}/{n}" for i in range(1, n + 1)]
    assert " ".join(p.split(" ", 1)[1] for p in parts) == words
    assert split("kort") == ["kort"]
    assert all(len(p) <= 20 for p in split("x" * 50, limit=20))
