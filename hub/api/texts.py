"""Console texts, Dutch (default) and English. Alarm labels come from alerts.texts."""

from __future__ import annotations

from typing import Final

UI: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "title": "Mobiele Zorg — alarmcentrale",
        "brand": "Mobiele Zorg",
        "brand_sub": "alarmcentrale",
        "login_title": "Inloggen",
        "username": "Gebruikersnaam",
        "password": "Wachtwoord",
        "sign_in": "Inloggen",
        "logout": "Uitloggen",
        "login_failed": "Onjuiste gebruikersnaam of wachtwoord.",
        "login_throttled": "Te veel mislukte inlogpogingen. Probeer het over {wait} opnieuw. "
        "Wachtwoord kwijt? Neem contact op met de beheerder.",
        "demo": "Demo-omgeving",
        "nav_alarms": "Alarmen",
        "nav_dwellings": "Woningen",
        "open_alarms": "Open alarmen",
        "recent": "Recent afgehandeld",
        "no_open": "Geen open alarmen. Alles rustig.",
        "no_recent": "Nog niets afgehandeld.",
        "ack": "Bevestigen",
        "resolve": "Afhandelen",
        "note_placeholder": "Notitie (bijv. wie gaat er heen)",
        "board": "Woningen",
        "online": "online",
        "offline": "offline",
        "last_seen": "laatst gezien",
        "never": "nooit",
        "spool": "wachtrij",
        "uptime": "actief",
        "sensors": "sensoren",
        "no_dwellings": "Geen woningen geregistreerd.",
        "live": "live",
        "reconnecting": "verbinding herstellen…",
        "raised": "ontvangen",
        "notified": "mantelzorger gemeld",
        "times": "×",
        "acked_by": "bevestigd door",
        "resolved_by": "afgehandeld door",
        "sensor": "sensor",
        "open_count": "open",
        "language_switch": "English",
        "ack_title": "Alarm bevestigen",
        "ack_intro": "U ontving een melding over dit alarm:",
        "ack_note": "Bericht aan de alarmcentrale (optioneel)",
        "ack_button": "Ik neem dit alarm aan",
        "ack_done": "Bedankt. Het alarm is bevestigd: "
        "de alarmcentrale ziet dat u het heeft aangenomen.",
        "ack_already": "Dit alarm is al bevestigd door {by} ({when}).",
        "ack_resolved": "Dit alarm is al afgehandeld.",
        "ack_expired": "Deze link is verlopen. Neem bij twijfel contact op met de alarmcentrale.",
        "ack_invalid": "Deze link is ongeldig.",
        "ack_unknown": "Dit alarm is niet (meer) bekend.",
        "ack_danger": "Bij direct gevaar: bel 112.",
        "error_csrf": "Het formulier is verlopen. Laad de pagina opnieuw.",
        "when": "Tijdstip",
        "dw_back": "Alle woningen",
        "dw_open": "Dagritme en vitale functies",
        "dw_not_found_title": "Woning niet gevonden",
        "dw_not_found": "Er is geen woning met id {id}.",
        "dw_address": "adres",
        "dw_as_of": "stand van {when}",
        "dw_open_alarms": "open alarmen",
        "dw_open_alarm": "open alarm",
        "routine": "Dagritme",
        "routine_none": "Nog geen dagritme ontvangen van deze woning. De woning leert de "
        "eerste dagen het dagritme van de bewoner (koude start); tot dan gelden de "
        "standaardwaarden uit het zorgplan.",
        "routine_cold": "Koude start: {days} van {needed} dagen geleerd. Tot het dagritme "
        "geleerd is, gelden de standaardwaarden uit het zorgplan (hieronder).",
        "routine_learned": "Geleerd uit {days} dagen.",
        "routine_received": "ontvangen",
        "wake": "Staat gewoonlijk op",
        "bedtime": "Gaat gewoonlijk slapen",
        "up_by": "Alarm als niet op om",
        "out_of_bed": "'s Nachts uit bed, alarm na",
        "out_of_bed_off": "uit (terugkeer naar bed niet waarneembaar)",
        "night": "Nacht",
        "quiet": "Toegestane stilte per tijdstip van de dag",
        "quiet_awake": "wakker",
        "quiet_asleep": "slapend",
        "quiet_default": "standaardwaarden zorgplan",
        "quiet_missing": "De drempels per tijdstip zijn niet meegestuurd (oudere versie).",
        "unknown": "onbekend",
        "not_yet": "nog niet geleerd",
        "vitals": "Vitale functies",
        "news2_latest": "Laatste NEWS2",
        "news2_none": "Nog geen NEWS2-score ontvangen.",
        "news2_partial": "onvolledig",
        "news2_partial_count": "onvolledig: {n} van 7 parameters ontbreken",
        "news2_red_flag": "één parameter scoort 3",
        "band_history": "NEWS2-band, afgelopen 14 dagen",
        "band_history_none": "Geen bandwisselingen in de afgelopen 14 dagen.",
        "trends": "Metingen, afgelopen 14 dagen (mediaan per uur)",
        "trends_none": "Geen metingen van hartslag, SpO2, lichaamstemperatuur of gewicht "
        "in de afgelopen 14 dagen.",
        "last_value": "laatste",
        "range": "bereik",
        "events": "Recente signalen",
        "events_none": "Nog geen signalen ontvangen.",
        "no_store": "Deze hub bewaart geen meetgeschiedenis.",
        "store_error": "De meetgeschiedenis is nu niet te lezen. Probeer het zo opnieuw.",
        "was": "was",
        "score": "score",
    },
    "en": {
        "title": "Mobiele Zorg — alarm console",
        "brand": "Mobiele Zorg",
        "brand_sub": "alarm console",
        "login_title": "Sign in",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "logout": "Sign out",
        "login_failed": "Wrong username or password.",
        "login_throttled": "Too many failed sign-in attempts. Try again in {wait}. "
        "Forgot your password? Contact the administrator.",
        "demo": "Demo environment",
        "nav_alarms": "Alarms",
        "nav_dwellings": "Dwellings",
        "open_alarms": "Open alarms",
        "recent": "Recently resolved",
        "no_open": "No open alarms. All quiet.",
        "no_recent": "Nothing resolved yet.",
        "ack": "Acknowledge",
        "resolve": "Resolve",
        "note_placeholder": "Note (e.g. who is going)",
        "board": "Dwellings",
        "online": "online",
        "offline": "offline",
        "last_seen": "last seen",
        "never": "never",
        "spool": "spool",
        "uptime": "up",
        "sensors": "sensors",
        "no_dwellings": "No dwellings registered.",
        "live": "live",
        "reconnecting": "reconnecting…",
        "raised": "received",
        "notified": "caregiver notified",
        "times": "×",
        "acked_by": "acknowledged by",
        "resolved_by": "resolved by",
        "sensor": "sensor",
        "open_count": "open",
        "language_switch": "Nederlands",
        "ack_title": "Acknowledge alarm",
        "ack_intro": "You were notified about this alarm:",
        "ack_note": "Message to the alarm centre (optional)",
        "ack_button": "I am taking this alarm on",
        "ack_done": "Thank you. The alarm is acknowledged: "
        "the alarm centre sees that you took it on.",
        "ack_already": "This alarm was already acknowledged by {by} ({when}).",
        "ack_resolved": "This alarm has already been resolved.",
        "ack_expired": "This link has expired. When in doubt, contact the alarm centre.",
        "ack_invalid": "This link is not valid.",
        "ack_unknown": "This alarm is not known (any more).",
        "ack_danger": "In immediate danger: call 112.",
        "error_csrf": "The form has expired. Please reload the page.",
        "when": "Time",
        "dw_back": "All dwellings",
        "dw_open": "Routine and vital signs",
        "dw_not_found_title": "Dwelling not found",
        "dw_not_found": "There is no dwelling with id {id}.",
        "dw_address": "address",
        "dw_as_of": "as of {when}",
        "dw_open_alarms": "open alarms",
        "dw_open_alarm": "open alarm",
        "routine": "Daily routine",
        "routine_none": "No daily routine received from this dwelling yet. The dwelling "
        "learns the resident's routine during the first days (cold start); until then the "
        "care-plan defaults apply.",
        "routine_cold": "Cold start: {days} of {needed} days learned. Until the routine is "
        "learned, the care-plan defaults (below) apply.",
        "routine_learned": "Learned from {days} days.",
        "routine_received": "received",
        "wake": "Usually gets up",
        "bedtime": "Usually goes to sleep",
        "up_by": "Alarm if not up by",
        "out_of_bed": "Out of bed at night, alarm after",
        "out_of_bed_off": "off (returns to bed cannot be sensed)",
        "night": "Night",
        "quiet": "Allowed silence by time of day",
        "quiet_awake": "awake",
        "quiet_asleep": "asleep",
        "quiet_default": "care-plan defaults",
        "quiet_missing": "The thresholds by time of day were not sent (older version).",
        "unknown": "unknown",
        "not_yet": "not learned yet",
        "vitals": "Vital signs",
        "news2_latest": "Latest NEWS2",
        "news2_none": "No NEWS2 score received yet.",
        "news2_partial": "partial",
        "news2_partial_count": "partial: {n} of 7 parameters missing",
        "news2_red_flag": "a single parameter scores 3",
        "band_history": "NEWS2 band, last 14 days",
        "band_history_none": "No band changes in the last 14 days.",
        "trends": "Readings, last 14 days (hourly median)",
        "trends_none": "No heart rate, SpO2, body temperature or weight readings in the "
        "last 14 days.",
        "last_value": "latest",
        "range": "range",
        "events": "Recent signals",
        "events_none": "No signals received yet.",
        "no_store": "This hub keeps no reading history.",
        "store_error": "The reading history cannot be read right now. Try again shortly.",
        "was": "was",
        "score": "score",
    },
}

# Sensor states from the edge's status message (sensors.contract: ok, silent, failed, starting).
SENSOR_STATES: Final[dict[str, dict[str, str]]] = {
    "nl": {"ok": "ok", "silent": "stil", "failed": "defect", "starting": "start op"},
    "en": {"ok": "ok", "silent": "silent", "failed": "failed", "starting": "starting"},
}

# Relative times, also used by console.js (passed in a data attribute).
RELATIVE: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "now": "zojuist",
        "s": "{n} s geleden",
        "m": "{n} min geleden",
        "h": "{n} u geleden",
        "d": "{n} d geleden",
    },
    "en": {
        "now": "just now",
        "s": "{n} s ago",
        "m": "{n} min ago",
        "h": "{n} h ago",
        "d": "{n} d ago",
    },
}


def relative(seconds: float, lang: str) -> str:
    r = RELATIVE.get(lang, RELATIVE["nl"])
    s = max(0, int(seconds))
    if s < 5:
        return r["now"]
    if s < 60:
        return r["s"].format(n=s)
    if s < 3600:
        return r["m"].format(n=s // 60)
    if s < 86400:
        return r["h"].format(n=s // 3600)
    return r["d"].format(n=s // 86400)


# -- the dwelling page (hub/api/dwelling_view.py) ------------------------------------------

# Event kinds (edge detectors) as operators read them; a kind not here is shown as sent.
EVENT_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "news2_band_changed": "NEWS2-band gewijzigd",
        "news2_updated": "NEWS2 bijgewerkt",
        "vitals_alarm": "alarm vitale functies",
        "vitals_alarm_cancelled": "alarm vitale functies opgeheven",
        "trend_alarm": "afwijkende trend",
        "trend_alarm_cancelled": "afwijkende trend voorbij",
        "inactivity": "ongewone inactiviteit",
        "inactivity_cancelled": "inactiviteit voorbij: weer beweging",
        "not_up": "niet opgestaan",
        "not_up_cancelled": "niet opgestaan: inmiddels op",
        "out_of_bed_night": "'s nachts uit bed, niet teruggekeerd",
        "out_of_bed_night_cancelled": "uit bed: weer gezien",
        "night_door": "voordeur 's nachts",
        "night_door_cancelled": "voordeur 's nachts: weer gezien",
        "impact_suspected": "mogelijke klap",
        "fall_confirmed": "val vastgesteld",
        "fall_alarm": "valalarm",
        "fall_recovered": "opgestaan na val",
        "fall_cancelled": "valalarm geannuleerd",
        "long_lie": "langdurig liggen na een val",
        "long_lie_cancelled": "langdurig liggen voorbij",
    },
    "en": {
        "news2_band_changed": "NEWS2 band changed",
        "news2_updated": "NEWS2 updated",
        "vitals_alarm": "vital-signs alarm",
        "vitals_alarm_cancelled": "vital-signs alarm cleared",
        "trend_alarm": "unusual trend",
        "trend_alarm_cancelled": "unusual trend over",
        "inactivity": "unusual inactivity",
        "inactivity_cancelled": "inactivity over: movement again",
        "not_up": "not up",
        "not_up_cancelled": "not up: up now",
        "out_of_bed_night": "out of bed at night, not back",
        "out_of_bed_night_cancelled": "out of bed: seen again",
        "night_door": "front door at night",
        "night_door_cancelled": "front door at night: seen again",
        "impact_suspected": "possible impact",
        "fall_confirmed": "fall detected",
        "fall_alarm": "fall alarm",
        "fall_recovered": "got up after the fall",
        "fall_cancelled": "fall alarm cancelled",
        "long_lie": "long lie after a fall",
        "long_lie_cancelled": "long lie over",
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

# Charted reading quantities: (label, unit).
VITAL_LABELS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "nl": {
        "hr": ("Hartslag", "/min"),
        "spo2": ("Zuurstofsaturatie (SpO2)", "%"),
        "temperature": ("Lichaamstemperatuur", "°C"),
        "weight": ("Gewicht", "kg"),
    },
    "en": {
        "hr": ("Heart rate", "/min"),
        "spo2": ("Oxygen saturation (SpO2)", "%"),
        "temperature": ("Body temperature", "°C"),
        "weight": ("Weight", "kg"),
    },
}

# Personal-trend rules and metrics (edge.detectors.trends), for trend_alarm details.
TREND_VALUES: Final[dict[str, dict[str, dict[str, str]]]] = {
    "nl": {
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
    },
    "en": {
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
    },
}

# Event detail keys beyond the alarm ones (alerts.texts.DETAIL_LABELS).
EVENT_DETAIL_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "band": "band",
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
    },
    "en": {
        "band": "band",
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
    },
}
