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
