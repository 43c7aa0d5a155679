"""What every command shares: settings and the store, opened on first use and closed at exit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from lineage.settings import Settings
    from lineage.stores import GraphStore


@dataclass
class CliContext:
    settings: Settings
    _store: GraphStore | None = field(default=None, init=False)

    def store(self, create: bool = False) -> GraphStore:
        """The configured store, opened once. A local store file that does not exist is created
        only for commands that write (`create`): a mistyped `--store` on a report must not leave
        an empty database behind."""
        if self._store is None:
            from pathlib import Path

            from lineage.errors import UserError
            from lineage.store_location import is_neo4j_uri
            from lineage.stores import make_store

            location = self.settings.store
            if not create and not is_neo4j_uri(location) and not Path(location).exists():
                raise UserError(f"no store at {location}: this command only reads (check "
                                "--store or LINEAGE_STORE, or ingest something first)")
            store = make_store(self.settings.store, auth=self.settings.neo4j_auth(),
                               database=self.settings.neo4j_database)
            store.open()
            self._store = store
        return self._store

    def store_for_writing(self) -> GraphStore:
        """The store, checked to be bound to the current pseudonym key (bound on first write)."""
        from lineage.identity import bind_pseudonym_key

        store = self.store(create=True)
        bind_pseudonym_key(store, self.settings.pseudonym_secret())
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def cli_context(ctx: typer.Context) -> CliContext:
    context = ctx.find_object(CliContext)
    assert context is not None, "the root callback sets the CLI context"
    return context
