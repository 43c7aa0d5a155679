"""`lineage listen hl7` (a real MLLP server that validates and persists each message before it
acknowledges) and `lineage listen atna` (a syslog receiver of IHE audit messages). Listeners are
found through the registry (`image_lineage.listeners`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import print_json
from lineage.store_location import is_neo4j_uri

app = typer.Typer(help="Serve a network interface that feeds the graph.", no_args_is_help=True)


@app.command("hl7")
def listen_hl7(
    ctx: typer.Context,
    system: Annotated[str, typer.Option("--system", help="Code of the sending system.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 2575,
    inbox: Annotated[Path | None, typer.Option(help="Inbox of accepted messages (SQLite); "
                                               "default: beside a local store.")] = None,
    max_message_bytes: Annotated[int, typer.Option(
        min=1024, help="Largest message accepted; a larger one is answered AR and its "
        "connection closed.")] = 1024 * 1024,
    idle_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds a connection may stay silent before it is closed.")] = 60.0,
    max_connections: Annotated[int, typer.Option(
        min=1, help="Connections served at once; more are closed.")] = 64,
    dead_letter_days: Annotated[float, typer.Option(
        min=0, help="Days a dead letter keeps its message (patient data); then only its hash, "
        "control ID and reason remain.")] = 30.0,
    dead_letters: Annotated[bool, typer.Option(
        "--dead-letters", help="List the messages that were accepted but could not be "
        "ingested, with the reasons (JSON), and exit.")] = False,
) -> None:
    """Listen for HL7 v2 over MLLP. Each message is checked in full first (AR: not HL7 or an
    unsupported type; AE: content that cannot be used, with the reason), stored, and only then
    acknowledged AA; accepted messages are ingested in order, and resumed after a restart. A
    message that fails later anyway is kept as a dead letter. SIGTERM or Ctrl-C stops."""
    from lineage.model import system_key
    from lineage.sources import LISTENERS_GROUP, load_plugin

    context = cli_context(ctx)
    system_key(system)
    location = context.settings.store
    inbox_path = inbox or (Path(f".lineage-hl7-{system}.inbox") if is_neo4j_uri(location)
                           else Path(f"{location}.hl7-{system}.inbox"))
    if dead_letters:
        letters = load_plugin(LISTENERS_GROUP, "hl7-dead-letters")(inbox_path)
        print_json({"inbox": str(inbox_path), "dead_letters": letters})
        return
    serve = load_plugin(LISTENERS_GROUP, "hl7")
    limits = load_plugin(LISTENERS_GROUP, "hl7-limits")(max_message_bytes, idle_timeout,
                                                         max_connections, dead_letter_days)

    def ready(bound: int) -> None:
        print(f"listening for HL7 v2 over MLLP on {host}:{bound} (inbox {inbox_path})",
              file=sys.stderr, flush=True)

    print_json(serve(context.store_for_writing(), context.settings.pseudonym_secret(), system,
                     host, port, inbox_path, ready, limits))


@app.command("atna")
def listen_atna(
    ctx: typer.Context,
    system_map: Annotated[Path | None, typer.Option(
        "--system-map", help="YAML mapping AE titles or host names to system codes "
        "(PACS_A: PACS-A); the estate's ae_titles and hosts also count.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    udp: Annotated[int | None, typer.Option(min=0, max=65535, help="UDP port (RFC 5426; "
                                            "0: any free port).")] = None,
    tcp: Annotated[int | None, typer.Option(min=0, max=65535, help="Plain TCP port (RFC 6587; "
                                            "for a trusted network only).")] = None,
    tls: Annotated[int | None, typer.Option(min=0, max=65535, help="TLS port (RFC 5425); "
                                            "needs --cert and --key.")] = None,
    cert: Annotated[Path | None, typer.Option(help="Server certificate chain (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="Server private key (PEM).")] = None,
    inbox: Annotated[Path | None, typer.Option(help="Inbox of received messages (SQLite); "
                                               "default: beside a local store.")] = None,
    max_message_bytes: Annotated[int, typer.Option(
        min=1024, help="Largest message kept; a larger one is dropped.")] = 256 * 1024,
    rate: Annotated[float, typer.Option(
        min=0.1, help="Messages per second kept from one sender address (bursts of ten "
        "seconds' worth); more are dropped and counted.")] = 200.0,
    dead_letters: Annotated[bool, typer.Option(
        "--dead-letters", help="List the messages that could not be used, with the reasons "
        "(JSON), and exit.")] = False,
) -> None:
    """Listen for IHE ATNA audit messages over syslog (UDP, TCP, TLS). Each is stored in a
    durable inbox as soon as it is complete, then turned into lineage (transfers, exports and
    imports become copies, study deletions dispose copies). SIGTERM or Ctrl-C stops."""
    from lineage.errors import UserError
    from lineage.sources import LISTENERS_GROUP, load_plugin

    context = cli_context(ctx)
    location = context.settings.store
    inbox_path = inbox or (Path(".lineage-atna.inbox") if is_neo4j_uri(location)
                           else Path(f"{location}.atna.inbox"))
    if dead_letters:
        letters = load_plugin(LISTENERS_GROUP, "atna-dead-letters")(inbox_path)
        print_json({"inbox": str(inbox_path), "dead_letters": letters})
        return
    if udp is None and tcp is None and tls is None:
        raise UserError("give at least one of --udp PORT, --tcp PORT, --tls PORT")
    if tls is not None and (cert is None or key is None):
        raise UserError("--tls needs --cert and --key")
    serve = load_plugin(LISTENERS_GROUP, "atna")
    ports = load_plugin(LISTENERS_GROUP, "atna-ports")(udp, tcp, tls)
    limits = load_plugin(LISTENERS_GROUP, "atna-limits")(
        max_message_bytes=max_message_bytes, rate_per_second=rate, burst=int(rate * 10))

    def ready(bound: dict[str, int]) -> None:
        where = ", ".join(f"{name} {host}:{port}" for name, port in bound.items())
        print(f"listening for ATNA audit messages on {where} (inbox {inbox_path})",
              file=sys.stderr, flush=True)

    print_json(serve(context.store_for_writing(), system_map, host, ports, inbox_path, ready,
                     limits, cert, key))
