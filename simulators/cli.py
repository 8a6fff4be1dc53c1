"""`mz sim ...`: simulators (`mz demo` is in simulators.demo_cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sim_app = typer.Typer(no_args_is_help=True)


@sim_app.command("dwelling")
def dwelling_command(
    scenario: Annotated[Path, typer.Option("--scenario", "-s", help="Scenario file (TOML).")],
    password: Annotated[
        str,
        typer.Option("--password", envvar="MZ_EDGE_PASSWORD", help="The dwelling's MQTT password."),
    ],
    broker: Annotated[str, typer.Option("--broker", help="Broker URL.")] = "mqtt://127.0.0.1:1883",
    dwelling: Annotated[
        str, typer.Option("--dwelling", help="Pseudonymous dwelling id (MQTT user).")
    ] = "dw-001",
    spool: Annotated[
        Path | None, typer.Option("--spool", help="Spool file (default: a temp dir).")
    ] = None,
    speed: Annotated[
        float | None, typer.Option("--speed", help="Override the scenario's speed.")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Run the REAL edge agent with simulated devices, scripted by a scenario file."""
    import asyncio
    import contextlib
    import json
    import logging
    import signal
    import tempfile

    from edge.errors import ConfigError
    from simulators.dwelling import SimulatedDwelling, dwelling_settings
    from simulators.scenario import ScenarioError, load_scenario

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with tempfile.TemporaryDirectory(prefix="mz-sim-") as tmp:
        try:
            sc = load_scenario(scenario)
            if speed is not None:
                sc = sc.model_copy(update={"speed": speed})
            settings = dwelling_settings(
                sc,
                dwelling=dwelling,
                password=password,
                broker_url=broker,
                spool_path=spool or Path(tmp) / "spool.sqlite",
            )
            sim = SimulatedDwelling(settings, sc)
        except (ScenarioError, ConfigError) as exc:
            typer.echo(f"mz sim dwelling: {exc}", err=True)
            raise typer.Exit(2) from None

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, sim.stop)
            await sim.run()

        asyncio.run(main())
        st = sim.agent.state if sim.agent is not None else None
        summary = {
            "dwelling": dwelling,
            "scenario": sc.name,
            "events": [{"at": h.t, "action": h.action, "device": h.device} for h in sim.happened],
            "alarms_raised": st.alarms_raised if st else 0,
            "batches": st.batches if st else 0,
            "published": st.published if st else 0,
            "spool_left": st.spool_depth if st else 0,
            "spool_dropped": st.spool_dropped if st else 0,
            "connects": st.connects if st else 0,
        }
        typer.echo(json.dumps(summary))
