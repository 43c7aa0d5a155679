"""`lineage listen hl7`: a real MLLP server that persists each message before it acknowledges."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from connectors.hl7 import Hl7Source
from connectors.mllp import Hl7Listener, Inbox
from connectors.patients import current_studies
from lineage.cli.context import cli_context
from lineage.cli.output import print_json
from lineage.errors import UserError
from lineage.model import system_key
from lineage.stores import is_neo4j_uri

app = typer.Typer(help="Serve a network interface that feeds the graph.", no_args_is_help=True)


@app.command("hl7")
def listen_hl7(
    ctx: typer.Context,
    system: Annotated[str, typer.Option("--system", help="Code of the sending system.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 2575,
    inbox: Annotated[Path | None, typer.Option(help="Inbox of accepted messages (SQLite); "
                                               "default: beside a local store.")] = None,
    dead_letters: Annotated[bool, typer.Option(
        "--dead-letters", help="List the messages that were accepted but could not be "
        "ingested, with the reasons (JSON), and exit.")] = False,
) -> None:
    """Listen for HL7 v2 over MLLP: AA once a message is stored, AE/AR with the reason for a bad
    one; ingest accepted messages in order; resume after a restart. SIGTERM or Ctrl-C stops."""
    context = cli_context(ctx)
    system_key(system)
    location = context.settings.store
    inbox_path = inbox or (Path(f".lineage-hl7-{system}.inbox") if is_neo4j_uri(location)
                           else Path(f"{location}.hl7-{system}.inbox"))
    if dead_letters:
        if not inbox_path.exists():
            raise UserError(f"no inbox at {inbox_path}")
        letters = Inbox(inbox_path)
        try:
            print_json({"inbox": str(inbox_path), "dead_letters": letters.dead_letters()})
        finally:
            letters.close()
        return
    source = Hl7Source(system, context.settings.pseudonym_secret())
    store = context.store_for_writing()
    messages = Inbox(inbox_path)
    listener = Hl7Listener(store, source, messages, current_studies(store))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: listener.stop())

    def ready(bound: int) -> None:
        print(f"listening for HL7 v2 over MLLP on {host}:{bound} (inbox {inbox_path})",
              file=sys.stderr, flush=True)

    try:
        listener.serve(host, port, ready)
    finally:
        counts = messages.counts()
        messages.close()
    print_json({"system": system, "inbox": str(inbox_path), **counts,
                **listener.report.as_dict()})
