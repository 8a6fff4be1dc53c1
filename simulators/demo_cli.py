"""`mz demo`: the command around simulators.demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

NOISY_LOGGERS = ("amqtt", "uvicorn", "uvicorn.error", "transitions", "mail.log", "httpx", "passlib")


def demo_command(
    duration: Annotated[
        float,
        typer.Option(
            "--for", min=0, help="Run this many seconds, print a summary, exit (0: until Ctrl-C)."
        ),
    ] = 0.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="Console port (http://127.0.0.1:PORT).")
    ] = 8080,
    inbox_port: Annotated[
        int, typer.Option("--inbox-port", help="Port of the demo mail inbox page.")
    ] = 8025,
    smtp_port: Annotated[
        int, typer.Option("--smtp-port", help="Port of the demo SMTP server.")
    ] = 2525,
    broker_port: Annotated[
        int, typer.Option("--broker-port", help="Port of the embedded MQTT broker.")
    ] = 18830,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker", help="Use this MQTT broker (mqtt://host:port) instead of the embedded one."
        ),
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help='With --broker: TOML of user = password ("hub.1" quoted, dw-001..dw-004).',
        ),
    ] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared-subscriptions/--no-shared-subscriptions", help="With --broker: use $share."
        ),
    ] = True,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Demo state (wiped at start).")
    ] = Path(".demo"),
    step_wait: Annotated[
        float,
        typer.Option(
            "--step-wait",
            min=1,
            help="Seconds each escalation step waits for 'ik ga erheen' before the next.",
        ),
    ] = 30.0,
    alarm_centre: Annotated[
        str | None,
        typer.Option(
            "--alarm-centre",
            metavar="HOST:PORT",
            help="Send the alarm-centre traffic (SIA DC-09, unencrypted) to this receiver "
            "instead of the demo's simulated alarm centre.",
        ),
    ] = None,
    influx: Annotated[
        str | None,
        typer.Option(
            "--influx",
            metavar="URL",
            help="Write the time series to this InfluxDB-v2-compatible endpoint "
            "(http(s)://host:8086; org mz, bucket mz, token from MZ_INFLUX_TOKEN or 'demo') "
            "instead of SQLite.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING.")] = "INFO",
) -> None:
    """Run the whole system locally: broker, hub, console, mail sink, a simulated alarm
    centre (SIA DC-09), four simulated dwellings."""
    import asyncio
    import json
    import logging
    import os

    from hub.errors import ConfigError
    from simulators.demo import (
        DemoConfig,
        demo_influx_url,
        install_signal_handlers,
        load_credentials,
        run_demo,
    )

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    if broker is not None and credentials is None:
        typer.echo(
            "mz demo: --broker needs --credentials (a TOML file of user = password)", err=True
        )
        raise typer.Exit(2)
    if alarm_centre is not None:
        from hub.config import parse_host_port

        try:
            parse_host_port(alarm_centre)
        except ValueError as exc:
            typer.echo(f"mz demo: --alarm-centre {exc}", err=True)
            raise typer.Exit(2) from None
    influx_url = None
    if influx is not None:
        try:
            influx_url = demo_influx_url(influx, os.environ.get("MZ_INFLUX_TOKEN") or "demo")
        except ValueError as exc:
            typer.echo(f"mz demo: --influx {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        credentials_map = load_credentials(credentials) if credentials else None
    except ValueError as exc:  # the file is missing, unreadable or not TOML
        typer.echo(f"mz demo: --credentials {exc}", err=True)
        raise typer.Exit(2) from None
    cfg = DemoConfig(
        data_dir=data_dir,
        console_port=port,
        inbox_port=inbox_port,
        smtp_port=smtp_port,
        broker_port=broker_port,
        broker_url=broker,
        broker_credentials=credentials_map,
        shared_subscriptions=shared,
        step_wait_s=step_wait,
        alarm_centre=alarm_centre,
        influx_url=influx_url,
        duration_s=duration,
        banner_to_stderr=as_json,
    )

    async def main() -> Any:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        return await run_demo(cfg, stop)

    try:
        summary = asyncio.run(main())
    except (ConfigError, OSError, ValueError) as exc:
        typer.echo(f"mz demo: {exc}", err=True)
        raise typer.Exit(2) from None
    data = summary.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        print_summary(data)


def print_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    table = Table(title=f"Alarms in {data['duration_s']:.0f} s of demo")
    for col in (
        "dwelling",
        "kind",
        "severity",
        "raised at (s)",
        "notified after (s)",
        "acknowledged after (s)",
        "centre ACK after (s)",
        "mails",
        "state",
    ):
        table.add_column(col)
    for a in data["alarms"]:
        table.add_row(
            a["dwelling"],
            a["kind"],
            a["severity"],
            fmt(a["raised_s"]),
            fmt(a["notify_latency_s"]),
            fmt(a["ack_latency_s"]),
            fmt(a["centre_ack_latency_s"]),
            str(a["notifications"]),
            a["state"],
        )
    console = Console()
    console.print(table)
    console.print(
        f"raised {data['alarms_raised']}, delivered {data['alarms_delivered']}, "
        f"acknowledged {data['alarms_acknowledged']}; {data['mails_delivered']} mails, "
        f"{data['acknowledged_by_link']} acknowledged through the mail's link; "
        f"{data['alarms_acknowledged_by_centre']} acknowledged by the alarm centre"
    )
