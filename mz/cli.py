"""The `mz` command: one entry point for the edge agent, the hub, simulators and tools.

Each package owns its own Typer sub-app and imports its heavy dependencies inside the
command functions, so `mz edge run` works on a Pi that has only the `edge` extra.
"""

from __future__ import annotations

import typer

from edge.cli import app as edge_app
from hub.admin_cli import app as admin_app
from hub.broker_cli import app as broker_app
from hub.cli import app as hub_app
from hub.fhir.cli import consent_app, export_app
from hub.provision_cli import app as provision_app
from hub.report_cli import app as report_app
from mz.decode_cli import decode_app
from mz.eval_cli import eval_app, train_app
from simulators.cli import sim_app
from simulators.demo_cli import demo_command

app = typer.Typer(
    name="mz",
    help="Mobiele Zorg monitoring: edge agent, hub, simulators and tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(edge_app, name="edge", help="The dwelling's edge agent (runs on the Raspberry Pi).")
app.add_typer(hub_app, name="hub", help="The central hub: ingest, alarms, console.")
app.add_typer(admin_app, name="admin", help="Manage dwellings, contacts and operators.")
app.add_typer(broker_app, name="broker", help="Broker accounts: dwellings, hub workers.")
app.add_typer(
    provision_app, name="provision", help="Provision dwellings: broker account, registry, bundle."
)
app.add_typer(report_app, name="report", help="Reports for the care organisation (CSV).")
app.add_typer(export_app, name="export", help="Export a resident's data (HL7 FHIR R4).")
admin_app.add_typer(
    consent_app, name="consent", help="Residents' consents to share data with an institution."
)
app.add_typer(sim_app, name="sim", help="Simulators: dwellings, devices, residents.")
app.add_typer(eval_app, name="eval", help="Evaluate detectors on recorded datasets.")
app.add_typer(train_app, name="train", help="Train detector parameters (reproducible).")
app.add_typer(decode_app, name="decode", help="Decode a device's bytes as the edge does (JSON).")
app.command("demo")(demo_command)


def main() -> None:
    app()
