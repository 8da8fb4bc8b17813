"""`amzorders simulator ...`: run the local SP-API marketplace simulator."""

from pathlib import Path
from typing import Annotated

import typer

from amzorders.cli.common import ascii_int, number_option


def register(app: typer.Typer) -> None:
    """Add the `simulator` command group to the main app."""
    group = typer.Typer(help="A local Amazon marketplace speaking the SP-API wire format, for trying and testing.\n\nExample: amzorders simulator serve --port 8123",
                        no_args_is_help=True)

    @group.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).", parser=ascii_int("--port", 0, 65535))] = 8123,
        state: Annotated[Path | None, typer.Option(help="State file keeping the marketplace between runs (default: in memory).")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the order generator.", parser=ascii_int("--seed", 0, 2**63 - 1))] = 1,
        orders: Annotated[int, typer.Option(help="Orders of history to generate (at most 1,000,000).", parser=ascii_int("--orders", 0, 1_000_000))] = 200,
        time_scale: Annotated[float, typer.Option(help="Multiply the usage-plan refill rates by this (0.001-10000).", parser=number_option("--time-scale", 0.001, 10_000.0))] = 1.0,
        no_rate_limits: Annotated[bool, typer.Option("--no-rate-limits", help="Never answer 429 QuotaExceeded.")] = False,
    ) -> None:
        """Serve the simulated marketplace until Ctrl-C.

        Example: amzorders simulator serve --port 8123 --state sim.json
        """
        import signal
        import threading

        from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator, account_config_toml, notifications_config_toml
        from amzorders.simulator.notifications import AWS_TEST_CREDENTIALS

        sim = Simulator(state, seed=seed, orders=orders, time_scale=time_scale,
                        rate_limits=not no_rate_limits, host=host, port=port)
        try:
            base_url = sim.start()
        except OSError as exc:
            typer.echo(f"Error: cannot listen on {host}:{port}: {exc.strerror}. Pick another --port.", err=True)
            raise typer.Exit(3) from None
        # These are the simulator's own public test credentials, not secrets.
        lines = [
            "Amazon SP-API simulator running (simulated data, not Amazon).",
            f"  SP-API endpoint: {base_url}",
            f"  LWA token URL:   {sim.token_url}",
            f"  client_id:       {SIMULATOR_CREDENTIALS['client_id']}",
            f"  client_secret:   {SIMULATOR_CREDENTIALS['client_secret']}",
            f"  refresh_token:   {SIMULATOR_CREDENTIALS['refresh_token']}",
            f"  state:           {state if state else 'in memory (lost on exit)'}",
            f"  admin:           {base_url}/_sim/health, POST /_sim/advance, POST /_sim/faults, GET /_sim/actions",
            "To use it from amzorders, put this in a config file (amzorders --config FILE ...):",
            "",
            account_config_toml(base_url, sim.token_url) + notifications_config_toml(base_url),
            "For 'amzorders listen' (its SQS queue; public test keys, not secrets):",
            f"  export AWS_ACCESS_KEY_ID={AWS_TEST_CREDENTIALS['aws_access_key_id']}",
            f"  export AWS_SECRET_ACCESS_KEY={AWS_TEST_CREDENTIALS['aws_secret_access_key']}",
            "  then: amzorders notifications setup && amzorders listen",
            "Press Ctrl-C to stop.",
        ]
        typer.echo("\n".join(lines), err=True)
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()

        # Ctrl-C and a service manager's SIGTERM both end it cleanly; the short waits let
        # the signal handler run promptly however busy the server threads are.
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop.wait(0.5):
                pass
            typer.echo("Simulator stopped.", err=True)
        finally:
            sim.stop()

    @group.command("received")
    def received(
        ctx: typer.Context,
        what: Annotated[str, typer.Argument(help="messages, solicitations, vat-invoices or actions (shipments, cancels, refunds).")] = "messages",
        order: Annotated[str | None, typer.Option("--order", metavar="AMAZON_ORDER", help="Only this Amazon order.")] = None,
    ) -> None:
        """What the built-in simulated marketplace received (JSON), e.g. to see a message went once.

        Example: amzorders simulator received messages --order 113-1234567-1234567
        """
        from amzorders.cli.common import get_app
        from amzorders.serialize import dumps
        from amzorders.errors import NotAllowedError, UsageError

        app = get_app(ctx)
        if not app.using_simulator:
            raise NotAllowedError("'simulator received' shows the built-in simulator's record; this account talks to Amazon.")
        sim = app.simulator()
        readers = {
            "messages": sim.received_messages, "solicitations": sim.received_solicitations,
            "vat-invoices": sim.received_vat_invoices,
            "actions": lambda order_id=None: [a for a in sim.received_actions() if order_id is None or a["order_id"] == order_id],
        }
        if what not in readers:
            raise UsageError(f"Unknown record {what!r}; use one of {', '.join(readers)}.")
        print(dumps(readers[what](order)))

    app.add_typer(group, name="simulator")
