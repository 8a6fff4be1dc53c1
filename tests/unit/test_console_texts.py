"""The console's texts: every page's own texts exist in Dutch and English alike, and no
page's text silently replaces another's (they share one `t`)."""

from __future__ import annotations

import re
from pathlib import Path

from hub.console import texts, texts_alarm, texts_reports, texts_resident

PAGES = {
    "alarm": texts_alarm.ALARM_UI,
    "reports": texts_reports.REPORT_UI,
    "resident": texts_resident.RESIDENT_UI,
}


def test_every_page_text_is_in_both_languages() -> None:
    for name, page in PAGES.items():
        assert set(page["nl"]) == set(page["en"]), name


def test_no_page_text_replaces_another() -> None:
    owner: dict[str, str] = {}
    for name, page in PAGES.items():
        for key in page["nl"]:
            assert key not in owner, f"{key!r}: {owner[key]} and {name}"
            owner[key] = name
    source = Path(texts.__file__).read_text(encoding="utf-8")
    base = set(re.findall(r'^        "([a-z0-9_]+)":', source, re.M))
    assert not base & set(owner), base & set(owner)


def test_the_merged_texts_have_both_languages() -> None:
    assert set(texts.UI["nl"]) == set(texts.UI["en"])
