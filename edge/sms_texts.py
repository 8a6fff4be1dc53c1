"""What the edge's own SMS says when the hub could not be reached (pure).

Dutch by default, English available, as the hub's texts (alerts/texts.py). Short: one SMS
is 160 GSM-7 characters, and a longer text is split into numbered parts ("1/2 ", ...) that
each fit. Only what a mantelzorger needs to act: what happened, when, that the central
service did not get it, what to do. No measurements, no scores, no names.

Only characters every modem carries unchanged in its GSM character set: no accents (a
dwelling label with one is written without it), no '@', '_' or braces.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from sensors.contract import AlarmKind

MAX_CHARS: Final = 160

_WHAT: Final[dict[str, dict[AlarmKind, str]]] = {
    "nl": {
        AlarmKind.PERSONAL: "de alarmknop is ingedrukt",
        AlarmKind.FALL: "mogelijk gevallen",
        AlarmKind.LONG_LIE: "mogelijk gevallen en ligt nog",
        AlarmKind.INACTIVITY: "ongewoon lang geen beweging",
        AlarmKind.VITALS: "metingen wijken af",
        AlarmKind.TECHNICAL: "technische storing",
    },
    "en": {
        AlarmKind.PERSONAL: "the alarm button was pressed",
        AlarmKind.FALL: "a possible fall",
        AlarmKind.LONG_LIE: "a possible fall, still down",
        AlarmKind.INACTIVITY: "no movement for unusually long",
        AlarmKind.VITALS: "readings are out of the ordinary",
        AlarmKind.TECHNICAL: "a technical fault",
    },
}
_TEMPLATE: Final = {
    "nl": (
        "Alarm {where}: {what} ({at}). De meldcentrale is niet bereikbaar."
        " Ga direct kijken; bij nood bel 112."
    ),
    "en": (
        "Alarm {where}: {what} ({at}). Alarm service unreachable."
        " Please check now; emergency: call 112."
    ),
}
_NO_LABEL: Final = {"nl": "Mobiele Zorg", "en": "Mobiele Zorg"}
# To a contact the edge texted an alarm, when the dwelling withdraws it while the hub is
# still away (the resident moves again, "ik ben oke" on the pendant, a fault cleared).
_CLEAR_TEMPLATE: Final = {
    "nl": (
        "Voorbij: het alarm van {at} in {where} ({what}) is vanuit de woning afgemeld."
        " Twijfelt u, neem dan contact op met de bewoner."
    ),
    "en": (
        "Over: the alarm of {at} in {where} ({what}) was called off in the dwelling."
        " If in doubt, check with the resident."
    ),
}


def plain(text: str) -> str:
    """`text` in the characters an SMS carries unchanged: accents dropped (e -> e for
    e-acute), anything else outside the safe set becomes a space."""
    from edge.drivers.gsm import check_text

    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        try:
            check_text(ch)
        except ValueError:
            ch = " "
        out.append(ch)
    return " ".join("".join(out).split())


def split(text: str, limit: int = MAX_CHARS) -> list[str]:
    """One part if it fits; else parts of whole words, each "k/n " + text within `limit`."""
    if len(text) <= limit:
        return [text]
    words = text.split(" ")
    n = 2
    while True:
        room = limit - len(f"{n}/{n} ")
        parts: list[str] = []
        current = ""
        for word in words:
            while len(word) > room:  # a word longer than a part: cut it
                if current:
                    parts.append(current)
                    current = ""
                parts.append(word[:room])
                word = word[room:]
            candidate = f"{current} {word}" if current else word
            if len(candidate) <= room:
                current = candidate
            else:
                parts.append(current)
                current = word
        if current:
            parts.append(current)
        if len(parts) <= n:
            return [f"{i}/{len(parts)} {p}" for i, p in enumerate(parts, 1)]
        n = len(parts)


def _render(
    template: dict[str, str], kind: AlarmKind, at: float, tz: ZoneInfo, label: str, lang: str
) -> list[str]:
    lang = lang if lang in template else "nl"
    when = datetime.fromtimestamp(at, tz)
    text = template[lang].format(
        where=plain(label) or _NO_LABEL[lang],
        what=_WHAT[lang][kind],
        at=f"{when:%H:%M}",
    )
    return split(plain(text))


def alarm_sms(kind: AlarmKind, at: float, tz: ZoneInfo, label: str, lang: str) -> list[str]:
    """The SMS parts for one alarm raised at `at` (UNIX seconds) in the dwelling."""
    return _render(_TEMPLATE, kind, at, tz, label, lang)


def clear_sms(kind: AlarmKind, at: float, tz: ZoneInfo, label: str, lang: str) -> list[str]:
    """The SMS parts that tell a contact the alarm raised at `at` is over (withdrawn in
    the dwelling)."""
    return _render(_CLEAR_TEMPLATE, kind, at, tz, label, lang)
