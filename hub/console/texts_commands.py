"""Texts of the dwelling page's remote-check panel (commands to the edge, hub.commands),
Dutch and English; merged into hub.console.texts.UI."""

from __future__ import annotations

from typing import Final

COMMAND_UI: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "cmd_title": "Controle op afstand",
        "cmd_intro": "Een testalarm gaat de hele weg van de woning naar de centrale, maar "
        "wordt niet doorgestuurd naar mantelzorgers of de alarmcentrale.",
        "cmd_test_alarm": "Testalarm",
        "cmd_status_report": "Statusrapport",
        "cmd_silence": "Storing stilzetten",
        "cmd_care_plan": "Zorgplan bijwerken",
        "cmd_none": "Nog geen opdrachten naar deze woning gestuurd.",
        "cmd_when": "Verstuurd",
        "cmd_what": "Opdracht",
        "cmd_by": "Door",
        "cmd_result": "Antwoord van de woning",
        "cmd_waiting": "wacht op antwoord…",
        "cmd_ok": "uitgevoerd",
        "cmd_refused": "geweigerd: {reason}",
        "cmd_no_answer": "geen antwoord (woning offline?)",
        "cmd_test_arrived": "testalarm aangekomen om {when}, niet doorgestuurd",
        "cmd_test_missing": "uitgevoerd, maar het testalarm is nog niet aangekomen",
        "cmd_report": "{ok} sensoren in orde, {silent} stil, {failed} defect · "
        "wachtrij {spool} · versie {version}",
        "cmd_report_refused": " · {n} onmogelijke meetwaarden geweigerd",
        "cmd_silenced_until": "stil tot {when}",
        "cmd_silence_lifted": "weer aan",
        "cmd_notice_sent": "Opdracht verstuurd. Het antwoord van de woning verschijnt hieronder.",
        "cmd_notice_unavailable": "Niet verstuurd: de MQTT-broker is niet bereikbaar. "
        "Probeer het later opnieuw.",
        "cmd_notice_audit_failed": "Niet verstuurd: het auditlogboek kan niet worden bijgewerkt.",
        "cmd_notice_invalid": "Niet verstuurd: de opdracht is ongeldig.",
        "cmd_notice_not_found": "Niet verstuurd: deze woning is niet geregistreerd.",
        "cmd_notice_too_soon": "Niet verstuurd: er ging minder dan 2 minuten geleden al een "
        "testalarm naar deze woning. Wacht het antwoord af.",
    },
    "en": {
        "cmd_title": "Remote check",
        "cmd_intro": "A test alarm travels all the way from the dwelling to the hub, but is "
        "not passed on to family or the alarm centre.",
        "cmd_test_alarm": "Test alarm",
        "cmd_status_report": "Status report",
        "cmd_silence": "Silence trouble",
        "cmd_care_plan": "Update care plan",
        "cmd_none": "No commands sent to this dwelling yet.",
        "cmd_when": "Sent",
        "cmd_what": "Command",
        "cmd_by": "By",
        "cmd_result": "The dwelling's answer",
        "cmd_waiting": "waiting for an answer…",
        "cmd_ok": "done",
        "cmd_refused": "refused: {reason}",
        "cmd_no_answer": "no answer (dwelling offline?)",
        "cmd_test_arrived": "test alarm arrived at {when}, not passed on",
        "cmd_test_missing": "done, but the test alarm has not arrived yet",
        "cmd_report": "{ok} sensors fine, {silent} silent, {failed} failed · "
        "queue {spool} · version {version}",
        "cmd_report_refused": " · {n} impossible values refused",
        "cmd_silenced_until": "silenced until {when}",
        "cmd_silence_lifted": "on again",
        "cmd_notice_sent": "Command sent. The dwelling's answer appears below.",
        "cmd_notice_unavailable": "Not sent: the MQTT broker cannot be reached. Try again later.",
        "cmd_notice_audit_failed": "Not sent: the audit trail cannot be written.",
        "cmd_notice_invalid": "Not sent: the command is not valid.",
        "cmd_notice_not_found": "Not sent: this dwelling is not registered.",
        "cmd_notice_too_soon": "Not sent: a test alarm went to this dwelling less than "
        "2 minutes ago. Wait for its answer.",
    },
}
