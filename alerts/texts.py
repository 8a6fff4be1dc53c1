"""Message texts for mantelzorgers (and labels the console shares), Dutch and English.

Pure: rendering takes every value as an argument. Dutch is the default; a contact's
`language` picks English.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from sensors.commands import is_test_alarm

LANGUAGES: Final = ("nl", "en")

KIND_LABELS: Final[dict[str, dict[AlarmKind, str]]] = {
    "nl": {
        AlarmKind.PERSONAL: "persoonlijk alarm",
        AlarmKind.FALL: "val",
        AlarmKind.LONG_LIE: "langdurig liggen na een val",
        AlarmKind.INACTIVITY: "ongewone inactiviteit",
        AlarmKind.VITALS: "verslechterende vitale functies",
        AlarmKind.TECHNICAL: "technische storing",
    },
    "en": {
        AlarmKind.PERSONAL: "personal alarm",
        AlarmKind.FALL: "fall",
        AlarmKind.LONG_LIE: "long lie after a fall",
        AlarmKind.INACTIVITY: "unusual inactivity",
        AlarmKind.VITALS: "deteriorating vital signs",
        AlarmKind.TECHNICAL: "technical fault",
    },
}

SEVERITY_LABELS: Final[dict[str, dict[Severity, str]]] = {
    "nl": {
        Severity.LOW: "laag",
        Severity.MEDIUM: "middel",
        Severity.HIGH: "hoog",
        Severity.CRITICAL: "kritiek",
    },
    "en": {
        Severity.LOW: "low",
        Severity.MEDIUM: "medium",
        Severity.HIGH: "high",
        Severity.CRITICAL: "critical",
    },
}

STATE_LABELS: Final[dict[str, dict[AlarmState, str]]] = {
    "nl": {
        AlarmState.RAISED: "nieuw",
        AlarmState.NOTIFIED: "gemeld",
        AlarmState.ACKNOWLEDGED: "bevestigd",
        AlarmState.RESOLVED: "afgehandeld",
    },
    "en": {
        AlarmState.RAISED: "new",
        AlarmState.NOTIFIED: "notified",
        AlarmState.ACKNOWLEDGED: "acknowledged",
        AlarmState.RESOLVED: "resolved",
    },
}

# Technical alarms by key: the hub's own (hub.presence uses "offline") and the edge's
# sensor supervision (edge.supervision: sensor_silent, battery_low, sensor_stuck, not_worn,
# frames_refused).
TECHNICAL_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "offline": "woning offline",
        "sensor_silent": "sensor stil",
        "battery_low": "batterij bijna leeg",
        "sensor_stuck": "sensor blijft aan staan",
        "not_worn": "draagbare sensor niet gedragen",
        "frames_refused": "berichten van de sensor geweigerd (afgespeeld of verouderd)",
        "refused": "berichten geweigerd",
        "clock": "klok van de woning loopt verkeerd",
        "alarms_refused": "alarmen van de woning geweigerd",
        "alarm_centre_link": "alarmcentrale onbereikbaar",
    },
    "en": {
        "offline": "dwelling offline",
        "sensor_silent": "sensor silent",
        "battery_low": "battery low",
        "sensor_stuck": "sensor stuck on",
        "not_worn": "wearable not worn",
        "frames_refused": "sensor frames refused (played back or stale)",
        "refused": "messages refused",
        "clock": "the dwelling's clock is wrong",
        "alarms_refused": "the dwelling's alarms refused",
        "alarm_centre_link": "alarm centre unreachable",
    },
}

# Alarm details (`AlarmRecord.detail`) as the console shows them: labels per key, and
# labels for the values of keys whose values are codes. An empty key label shows the
# value alone ("knop ingedrukt" says it all). Formatting lives in alerts.present.
DETAIL_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "reason": "reden",
        "press": "",
        "button": "knop nr.",  # which button of a multi-button remote (1, 2, ...)
        "last_seen": "laatst gezien",
        "refused_at": "laatst geweigerd",
        "since": "sinds",
        "for_s": "duur",
        "threshold_s": "drempel",
        "up_by_min": "verwacht op uiterlijk",
        "learned": "geleerd patroon",
        "quantity": "meetwaarde",
        "score": "score",
        "impact_t": "klap om",
        "peak_g": "piekversnelling (g)",
        "band": "NEWS2-band",
        "previous_band": "was",
        "partial": "onvolledig",
        "missing": "ontbreekt",
        "red_flag": "parameter met 3",
        "rule": "regel",
        "metric": "meetwaarde",
        "value": "waarde",
        "baseline_median": "basislijn (mediaan)",
        "baseline_mad": "spreiding (MAD)",
        "baseline_days": "basislijn over (dagen)",
        "cancel_window_s": "annuleertijd",
        "after_alarm": "na alarm",
        "orientation_change_deg": "draaiing (graden)",
        "stillness_g": "stilliggen (g)",
        "day": "dag",
        "subscore": "punten",
        "subscore_one": "punt",
        "spo2_scale": "SpO2-schaal (zorgplan)",
        "blood_pressure": "bloeddruk",
        "clock_off": "tijd van de woning onjuist, tijd van ontvangst gebruikt",
    },
    "en": {
        "reason": "reason",
        "press": "",
        "button": "button no.",
        "last_seen": "last seen",
        "refused_at": "last refused",
        "since": "since",
        "for_s": "duration",
        "threshold_s": "threshold",
        "up_by_min": "expected up by",
        "learned": "learned pattern",
        "quantity": "quantity",
        "score": "score",
        "impact_t": "impact at",
        "peak_g": "peak acceleration (g)",
        "band": "NEWS2 band",
        "previous_band": "was",
        "partial": "partial",
        "missing": "missing",
        "red_flag": "parameter scoring 3",
        "rule": "rule",
        "metric": "metric",
        "value": "value",
        "baseline_median": "baseline (median)",
        "baseline_mad": "spread (MAD)",
        "baseline_days": "baseline over (days)",
        "cancel_window_s": "cancel window",
        "after_alarm": "after alarm",
        "orientation_change_deg": "rotation (degrees)",
        "stillness_g": "stillness (g)",
        "day": "day",
        "subscore": "points",
        "subscore_one": "point",
        "spo2_scale": "SpO2 scale (care plan)",
        "blood_pressure": "blood pressure",
        "clock_off": "the dwelling's time was wrong, time of receipt used",
    },
}

# NEWS2 bands (edge.detectors.news2.Band, RCP 2017 chart 2).
BAND_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "zero": "geen risico (0)",
        "low": "laag (1-4)",
        "low_medium": "laag, één parameter 3",
        "medium": "midden (5-6)",
        "high": "hoog (7+)",
    },
    "en": {
        "zero": "no risk (0)",
        "low": "low (1-4)",
        "low_medium": "low, a single 3",
        "medium": "medium (5-6)",
        "high": "high (7+)",
    },
}


# NEWS2 parameters (edge.detectors.news2.Param).
PARAM_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "rr": "ademfrequentie",
        "spo2": "zuurstofsaturatie",
        "o2": "extra zuurstof",
        "sbp": "systolische bloeddruk",
        "hr": "hartslag",
        "acvpu": "bewustzijn",
        "temp": "temperatuur",
    },
    "en": {
        "rr": "respiration rate",
        "spo2": "oxygen saturation",
        "o2": "supplemental oxygen",
        "sbp": "systolic blood pressure",
        "hr": "heart rate",
        "acvpu": "consciousness",
        "temp": "temperature",
    },
}


# The units NEWS2 parameters are measured in (the alarm detail's `val_<param>`), UCUM-like
# but as a reader writes them.
PARAM_UNITS: Final[dict[str, str]] = {
    "rr": "/min",
    "spo2": "%",
    "sbp": "mmHg",
    "dbp": "mmHg",
    "hr": "/min",
    "temp": "°C",
}


# Ingest's refusal reasons (sensors.contract, hub.budget) as operators read them.
REFUSAL_REASONS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "bad_utf8": "geen geldige UTF-8",
        "bad_json": "geen geldige JSON",
        "unknown_version": "onbekende versie",
        "non_finite": "ongeldig getal",
        "schema": "onjuiste opbouw",
        "out_of_range": "getal buiten bereik",
        "bad_text": "ongeldige tekst",
        "detail_size": "te veel of te grote details",
        "ts_window": "tijdstip buiten bereik (klok van de woning?)",
        "dwelling_mismatch": "andere woning dan het onderwerp",
        "type_mismatch": "onjuist commando",
        "too_large": "te groot",
        "unexpected_channel": "onderwerp niet toegestaan",
        "budget_messages": "te veel berichten",
        "budget_readings": "te veel meetwaarden",
        "budget_bytes": "te veel gegevens",
        "budget_alarm_rate": "te veel alarmen",
        "budget_open_alarms": "te veel openstaande alarmen",
    },
    "en": {
        "bad_utf8": "not valid UTF-8",
        "bad_json": "not valid JSON",
        "unknown_version": "unknown version",
        "non_finite": "invalid number",
        "schema": "wrong shape",
        "out_of_range": "number out of range",
        "bad_text": "invalid text",
        "detail_size": "too many or too large details",
        "ts_window": "time out of range (the dwelling's clock?)",
        "dwelling_mismatch": "another dwelling than its topic",
        "type_mismatch": "wrong command",
        "too_large": "too large",
        "unexpected_channel": "topic not allowed",
        "budget_messages": "too many messages",
        "budget_readings": "too many readings",
        "budget_bytes": "too much data",
        "budget_alarm_rate": "too many alarms",
        "budget_open_alarms": "too many open alarms",
    },
}

DETAIL_VALUES: Final[dict[str, dict[str, dict[str, str]]]] = {
    "nl": {
        "reason": {
            "heartbeat_timeout": "geen levensteken meer van de woning ontvangen",
            "status_offline": "woning meldde zich af",
            "status": "statusbericht",
            "message": "bericht ontvangen",
            "future": "tijdstip ligt in de toekomst",
            "cancel_window_elapsed": "niet geannuleerd binnen de wachttijd",
            "no_recovery": "niet opgestaan na de val",
            "silent_after_impact": "harde klap gemeten, daarna gaf de valsensor geen signaal meer",
            "got_up": "weer opgestaan",
            "button": "geannuleerd met de knop",
            "clock_off": "tijd van een alarm lag ver van de klok van de hub af",
            # Why the hub refused a dwelling's message (the technical alarm "refused").
            **{k: f"bericht geweigerd: {v}" for k, v in REFUSAL_REASONS["nl"].items()},
        },
        # BTHome button events (sensors.readings.ButtonPress).
        "press": {
            "press": "knop ingedrukt",
            "double_press": "dubbel ingedrukt",
            "triple_press": "driemaal ingedrukt",
            "long_press": "lang ingedrukt",
            "long_double_press": "dubbel lang ingedrukt",
            "long_triple_press": "driemaal lang ingedrukt",
            "hold_press": "knop vastgehouden",
            "hold_release": "knop losgelaten",
        },
        "rule": {
            "resting_hr_up": "rusthartslag gestegen",
            "weight_gain": "gewicht snel toegenomen",
            "spo2_down": "zuurstofsaturatie gedaald",
            "temp_up": "temperatuur gestegen",
        },
        "metric": {
            "resting_hr": "rusthartslag",
            "spo2": "zuurstofsaturatie",
            "temp": "temperatuur",
            "weight": "gewicht",
        },
        "band": BAND_LABELS["nl"],
        "previous_band": BAND_LABELS["nl"],
    },
    "en": {
        "reason": {
            "heartbeat_timeout": "no sign of life from the dwelling received",
            "status_offline": "dwelling signed off",
            "status": "status message",
            "message": "message received",
            "future": "time lies in the future",
            "cancel_window_elapsed": "not cancelled within the waiting time",
            "no_recovery": "did not get up after the fall",
            "silent_after_impact": "a hard impact, then the fall sensor went silent",
            "got_up": "got up again",
            "button": "cancelled with the button",
            "clock_off": "an alarm's time was far off the hub's clock",
            **{k: f"message refused: {v}" for k, v in REFUSAL_REASONS["en"].items()},
        },
        "press": {
            "press": "button pressed",
            "double_press": "pressed twice",
            "triple_press": "pressed three times",
            "long_press": "long press",
            "long_double_press": "long press, twice",
            "long_triple_press": "long press, three times",
            "hold_press": "button held",
            "hold_release": "button released",
        },
        "rule": {
            "resting_hr_up": "resting heart rate up",
            "weight_gain": "rapid weight gain",
            "spo2_down": "oxygen saturation down",
            "temp_up": "temperature up",
        },
        "metric": {
            "resting_hr": "resting heart rate",
            "spo2": "oxygen saturation",
            "temp": "temperature",
            "weight": "weight",
        },
        "band": BAND_LABELS["en"],
        "previous_band": BAND_LABELS["en"],
    },
}

YES_NO: Final[dict[str, tuple[str, str]]] = {"nl": ("ja", "nee"), "en": ("yes", "no")}

# Where a record or a value cannot be formatted, the reader sees this (with the record's
# id), never an error page and never a lost mail.
UNDISPLAYABLE: Final[dict[str, str]] = {"nl": "niet weer te geven", "en": "cannot be displayed"}
# A text from the wire that is not a known code: mails never show it, so nothing a dwelling
# sends becomes a link or a line of its own in a mail (the console shows it, escaped).
TEXT_HIDDEN: Final[dict[str, str]] = {"nl": "(tekst niet getoond)", "en": "(text not shown)"}
# The minimal mail (alerts.present.minimal_mail) says why it is short.
MAIL_UNDISPLAYABLE: Final[dict[str, str]] = {
    "nl": "Niet alle gegevens van dit alarm zijn weer te geven (kenmerk {id}).",
    "en": "Not all details of this alarm can be displayed (reference {id}).",
}

# The mail's first sentence, per kind: each kind's own article and verb agreement ("is een
# val", "zijn verslechterende vitale functies", "is ongewone inactiviteit"). `{label}` is
# the technical alarm's own label ("woning offline"); `{severity}` the urgency.
WHAT_TEXTS: Final[dict[str, dict[AlarmKind, str]]] = {
    "nl": {
        AlarmKind.PERSONAL: "In {dwelling} is een persoonlijk alarm gemeld (urgentie: {severity}).",
        AlarmKind.FALL: "In {dwelling} is een val gemeld (urgentie: {severity}).",
        AlarmKind.LONG_LIE: "In {dwelling} is langdurig liggen na een val gemeld "
        "(urgentie: {severity}).",
        AlarmKind.INACTIVITY: "In {dwelling} is ongewone inactiviteit gemeld "
        "(urgentie: {severity}).",
        AlarmKind.VITALS: "In {dwelling} zijn verslechterende vitale functies gemeld "
        "(urgentie: {severity}).",
        AlarmKind.TECHNICAL: "In {dwelling} is een technische storing gemeld: {label} "
        "(urgentie: {severity}).",
    },
    "en": {
        AlarmKind.PERSONAL: "A personal alarm was reported in {dwelling} (urgency: {severity}).",
        AlarmKind.FALL: "A fall was reported in {dwelling} (urgency: {severity}).",
        AlarmKind.LONG_LIE: "A long lie after a fall was reported in {dwelling} "
        "(urgency: {severity}).",
        AlarmKind.INACTIVITY: "Unusual inactivity was reported in {dwelling} "
        "(urgency: {severity}).",
        AlarmKind.VITALS: "Deteriorating vital signs were reported in {dwelling} "
        "(urgency: {severity}).",
        AlarmKind.TECHNICAL: "A technical fault was reported in {dwelling}: {label} "
        "(urgency: {severity}).",
    },
}

# What to do, in every mail and short text about a critical alarm or one the alarm centre
# (alarmmeldpunt) handles too; "centre" only when it does.
ADVICE_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "act": "Ga direct kijken of bel 112 bij levensgevaar.",
        "centre": "De alarmcentrale is ook ingeschakeld.",
        "centre_short": "Alarmcentrale ingeschakeld.",
    },
    "en": {
        "act": "Go and check at once, or call 112 if a life is in danger.",
        "centre": "The alarm centre has been alerted too.",
        "centre_short": "Alarm centre alerted.",
    },
}

# The one line of an SMS or a push (alerts.present.render_short), at most 160 characters;
# the acknowledgement link follows it (the channel adds it). `{more}`: a folded message's
# other alarms (SHORT_MORE), "" for one alarm.
SHORT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "alarm": "ALARM: {kind} in {dwelling} (urgentie: {severity}){more}.",
        "technical": "Storing: {kind} in {dwelling}{more}.",
        "repeat": "HERHALING {round}: ",
        "more_one": ", en 1 andere melding",
        "more": ", en {more} andere meldingen",
    },
    "en": {
        "alarm": "ALARM: {kind} in {dwelling} (urgency: {severity}){more}.",
        "technical": "Fault: {kind} in {dwelling}{more}.",
        "repeat": "REMINDER {round}: ",
        "more_one": ", and 1 other alert",
        "more": ", and {more} other alerts",
    },
}

# A contact's role (Contact.role) after their name where a person is named for what they
# did ("Anna de Vries (mantelzorger)"); alerts.present.person_label never doubles it.
ROLE_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "family": "mantelzorger",
        "neighbour": "buur",
        "care": "zorgverlener",
        "installer": "installateur",
    },
    "en": {
        "family": "family carer",
        "neighbour": "neighbour",
        "care": "care worker",
        "installer": "installer",
    },
}

MAIL_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "subject_alarm": "ALARM: {kind} — {dwelling}",
        "subject_technical": "Storing: {kind} — {dwelling}",
        "subject_repeat": "HERHALING {round}: ",
        "greeting": "Beste {name},",
        # What happened is said per kind (WHAT_TEXTS); this when the kind cannot be shown.
        "what_unknown": "In {dwelling} is een melding binnengekomen (urgentie: {severity}).",
        "when": "Tijdstip: {when}",
        "detail": "Details: {detail}",
        "repeat": "Niemand heeft dit alarm nog bevestigd. Dit is herinnering {round}.",
        "ack": "Neemt u dit alarm aan? Bevestig het via deze link:",
        "ack_expiry": "De link is geldig tot {until}.",
        "footer": "Dit bericht is automatisch verstuurd door Mobiele Zorg monitoring.\n"
        "Bel bij direct gevaar 112.",
    },
    "en": {
        "subject_alarm": "ALARM: {kind} — {dwelling}",
        "subject_technical": "Fault: {kind} — {dwelling}",
        "subject_repeat": "REMINDER {round}: ",
        "greeting": "Dear {name},",
        "what_unknown": "An alert was received from {dwelling} (urgency: {severity}).",
        "when": "Time: {when}",
        "detail": "Details: {detail}",
        "repeat": "Nobody has acknowledged this alarm yet. This is reminder {round}.",
        "ack": "Will you take this alarm on? Acknowledge it with this link:",
        "ack_expiry": "The link is valid until {until}.",
        "footer": "This message was sent automatically by Mobiele Zorg monitoring.\n"
        "In immediate danger, call 112.",
    },
}


def language(lang: str | None, default: str = "nl") -> str:
    if lang in LANGUAGES:
        return lang
    return default if default in LANGUAGES else "nl"


def local_datetime(ts: float, tz: str) -> datetime | None:
    """`ts` (UNIX seconds) in the time zone `tz`; None when it is no moment a calendar can
    show (1e18, NaN, a 400-digit integer, an unknown zone)."""
    try:
        return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz))
    except (ArithmeticError, ValueError, OSError, KeyError, TypeError):
        return None


def local_time(ts: float, tz: str, lang: str) -> str:
    """`ts` (UNIX seconds) as a local date and time, e.g. '25-11-2026 14:03:07 CET';
    "niet weer te geven" when it cannot be one."""
    dt = local_datetime(ts, tz)
    if dt is None:
        return UNDISPLAYABLE[language(lang)]
    fmt = "%d-%m-%Y %H:%M:%S %Z" if lang == "nl" else "%Y-%m-%d %H:%M:%S %Z"
    return dt.strftime(fmt)


# A test alarm the hub asked for (sensors.commands): what it is, before what it imitates.
TEST_LABELS: Final = {"nl": "Testalarm", "en": "Test alarm"}


def kind_label(alarm: AlarmRecord, lang: str) -> str:
    lang = language(lang)
    if is_test_alarm(dict(alarm.detail)) is not None:
        return f"{TEST_LABELS[lang]} ({KIND_LABELS[lang][alarm.kind].lower()})"
    if alarm.kind is AlarmKind.TECHNICAL:
        key = str(alarm.detail.get("key", ""))
        if key in TECHNICAL_LABELS[lang]:
            return TECHNICAL_LABELS[lang][key]
    return KIND_LABELS[lang][alarm.kind]


# A folded mail: one mail for several alarms of one dwelling (alerts.digest). `{count}`
# is every alarm the mail carries, `{more}` those beyond the headline.
FOLD_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "subject_more_one": " (en 1 andere melding)",
        "subject_more": " (en {more} andere meldingen)",
        "summary": "In {dwelling} zijn {count} meldingen binnengekomen die nog niemand heeft "
        "bevestigd.",
        "headline": "De ernstigste: {kind} (urgentie: {severity}).",
        "also": "Verder gemeld:",
        "item": "- {when}  {kind} (urgentie: {severity})",
        "rest_one": "… en nog 1 andere melding.",
        "rest": "… en nog {rest} andere meldingen.",
        "unrenderable": "- melding {id}: niet weer te geven",
        "ack": "Neemt u deze meldingen aan? Bevestig ze allemaal in één keer via deze link:",
    },
    "en": {
        "subject_more_one": " (and 1 other alert)",
        "subject_more": " (and {more} other alerts)",
        "summary": "{count} alerts were reported in {dwelling} that nobody has acknowledged yet.",
        "headline": "The most serious: {kind} (urgency: {severity}).",
        "also": "Also reported:",
        "item": "- {when}  {kind} (urgency: {severity})",
        "rest_one": "… and 1 more alert.",
        "rest": "… and {rest} more alerts.",
        "unrenderable": "- alert {id}: cannot be displayed",
        "ack": "Will you take these alerts on? Acknowledge them all at once with this link:",
    },
}


# How an alarm ended (alerts.model.Outcome), as the console and the all-clear name it.
OUTCOME_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "false_alarm": "Loos alarm",
        "family_help": "Geholpen door familie of buren",
        "care_provider": "Zorgverlener gestuurd",
        "ambulance": "Ambulance",
        "other": "Anders",
    },
    "en": {
        "false_alarm": "False alarm",
        "family_help": "Helped by family or neighbours",
        "care_provider": "Care provider sent",
        "ambulance": "Ambulance",
        "other": "Other",
    },
}


# The all-clear (alerts.all_clear): to a contact who was told of an alarm, once it is
# over. `{why}` says how it ended (`why_*`); no link: there is nothing left to take on.
ALL_CLEAR_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "subject": "Voorbij: {kind} — {dwelling}",
        "line": "De melding '{kind}' van {when} in {dwelling} is voorbij: {why}.",
        "short": "Voorbij: {kind} in {dwelling} ({why}). U hoeft niets meer te doen.",
        "why_edge_inactivity": "er is weer beweging gezien",
        "why_edge_vitals": "de metingen zijn weer binnen de grenzen",
        "why_edge_technical": "de storing is verholpen",
        "why_edge_fall": "de bewoner heeft met de alarmknop laten weten dat het goed gaat",
        "why_edge": "de melding is vanuit de woning afgemeld",
        "why_hub": "de storing is verholpen",
        "why_person": "afgehandeld door {who}",
        "why_centre": "afgehandeld door de meldcentrale",
        "outcome": "Afloop: {outcome}.",
        "nothing_to_do": "U hoeft hiervoor niets meer te doen. Twijfelt u, neem dan contact "
        "op met de bewoner.",
    },
    "en": {
        "subject": "Over: {kind} — {dwelling}",
        "line": "The alert '{kind}' of {when} in {dwelling} is over: {why}.",
        "short": "Over: {kind} in {dwelling} ({why}). Nothing more to do.",
        "why_edge_inactivity": "movement has been seen again",
        "why_edge_vitals": "the readings are back within their limits",
        "why_edge_technical": "the fault has cleared",
        "why_edge_fall": "the resident said with the alarm button that all is well",
        "why_edge": "the alert was called off in the dwelling",
        "why_hub": "the fault has cleared",
        "why_person": "handled by {who}",
        "why_centre": "handled by the alarm centre",
        "outcome": "Outcome: {outcome}.",
        "nothing_to_do": "There is nothing more you need to do for it. If in doubt, check "
        "with the resident anyway.",
    },
}
