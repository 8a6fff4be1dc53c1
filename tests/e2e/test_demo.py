"""`mz demo --for N --json`, as a user runs it: the pendant alarm of dw-001 (at 25 s) is
raised, goes at once to the simulated alarm centre (SIA DC-09, AES) which acknowledges
it, is mailed in parallel and taken on ("ik ga erheen") through the mail's link by the
simulated mantelzorger; dw-004's bad spot check (NEWS2 5 at 20 s) raises a vitals alarm
for the mantelzorger only, and is exported as a FHIR Bundle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.e2e.demo_cli import REPO, demo_command
from tests.fhir_server import resources_of

pytestmark = pytest.mark.e2e

NEWS2 = "1104051000000101"  # SNOMED CT: NEWS2 total score


def test_demo_runs_for_a_while_and_reports_the_alarm_handled(tmp_path: Path) -> None:
    proc = subprocess.run(
        demo_command(tmp_path / "demo", 45),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "login: demo /" in proc.stderr  # the banner, kept off stdout with --json
    summary = json.loads(proc.stdout)
    personal = [a for a in summary["alarms"] if a["kind"] == "personal"]
    assert [a["dwelling"] for a in personal] == ["dw-001"]
    assert personal[0]["state"] == "acknowledged"
    assert personal[0]["response"] in ("on_my_way", "arrived")  # ~10 s apart, near the end
    # The receiving centre acknowledged it, within seconds of the hub receiving it.
    assert personal[0]["centre_acked_s"] is not None
    assert personal[0]["centre_ack_latency_s"] < 5
    centre = summary["alarm_centre"]
    assert centre["receiver"] == "simulated" and centre["reachable"] is True
    assert (1001, 101, 1) in {
        (int(e["account"]), e["code"], e["qualifier"]) for e in centre["events"]
    }
    assert centre["link_tests_received"] >= 1
    assert "alarm centre simulated DC-09 receiver on 127.0.0.1:" in proc.stderr
    assert personal[0]["notify_latency_s"] is not None and personal[0]["notify_latency_s"] < 5
    assert summary["acknowledged_by_link"] >= 1
    vitals = [a for a in summary["alarms"] if a["kind"] == "vitals"]
    assert [(a["dwelling"], a["severity"]) for a in vitals][:1] == [("dw-004", "high")]
    assert vitals[0]["centre_handed_s"] is None  # NEWS2 5: the family, not the centre
    assert summary["ingest"].get("accepted.readings", 0) > 0
    # dw-004's NEWS2 episode exported as a FHIR Bundle (its resident consented), path shown.
    path = Path(summary["fhir_bundle"])
    assert path.is_relative_to(tmp_path / "demo") and f"episode in {path}" in proc.stderr
    bundle = Bundle.model_validate_json(path.read_text())
    news2 = [o for o in resources_of(bundle, "Observation") if o.code.coding[0].code == NEWS2]
    assert max(o.valueInteger for o in news2) >= 5
    assert "vitals" in {f.code.coding[0].code for f in resources_of(bundle, "Flag")}
    assert [p.identifier[0].value for p in resources_of(bundle, "Patient")] == ["DEMO-0004"]
