"""Running `neo4j-admin database import full` on a Neo4j home, and waiting for its server.

A home from a Neo4j distribution has `bin/neo4j-admin`; a home made by tools/neo4j/neo4j-local
holds the jars only (`lib/`), whose `org.neo4j.cli.AdminTool` is the same command.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from lineage.backfill.import_files import ARRAY_DELIMITER_OPTION, ImportFiles
from lineage.errors import StoreUnavailableError, UserError
from lineage.stores.neo4j import Neo4jStore
from lineage.warm import check_database_name, databases_folder

_TAIL_LINES = 12


def admin_command(home: Path) -> list[str]:
    """How to call neo4j-admin for this home."""
    script = home / "bin" / "neo4j-admin"
    if script.is_file():
        return [str(script)]
    lib = home / "lib"
    if not any(lib.glob("neo4j-command-line-*.jar")):
        raise UserError(f"{home} is not a Neo4j home: neither bin/neo4j-admin nor "
                        "lib/neo4j-command-line-*.jar is there (tools/neo4j/neo4j-local install "
                        "makes one)")
    java = os.environ.get("JAVA", "java")
    heap = os.environ.get("NEO4J_ADMIN_HEAP", "1g")
    return [java, f"-Xmx{heap}", "-cp", f"{lib}/*", "org.neo4j.cli.AdminTool"]


RUNNING_HINT = "stop the Neo4j server of this home first: the import writes offline"
EXISTS_HINT = "the database exists: --overwrite replaces it"


def check_home(home: Path, database: str, overwrite: bool) -> None:
    """What the import would refuse, told before anything is staged (at size L staging takes
    twenty minutes): not a Neo4j home, not a database name, its server running (a store lock
    held), the database there already without `overwrite`. The import checks again."""
    admin_command(home)
    check_database_name(database)
    databases = databases_folder(home)
    if _locked(databases / "store_lock") or _locked(databases / database / "database_lock"):
        raise UserError(f"the Neo4j server of {home} is running (its store is locked): "
                        f"{RUNNING_HINT}")
    if not overwrite and (databases / database / "neostore").exists():
        raise UserError(f"the database {database!r} of {home} holds a store ({EXISTS_HINT})")


def _locked(path: Path) -> bool:
    """Whether another process (a Neo4j server: Java's file locks are POSIX record locks on
    Linux) holds a lock on this file; False when it cannot be told (no such file)."""
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
    else:
        fcntl.lockf(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)


def _environment(home: Path) -> dict[str, str]:
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    if not (conf / "neo4j.conf").exists():
        (conf / "neo4j.conf").write_text("")
    return {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf)}


def import_command(home: Path, database: str, files: ImportFiles, overwrite: bool,
                   report: Path) -> list[str]:
    # The database first: the file options take every argument after them as a file.
    command = [*admin_command(home), "database", "import", "full", database, "--verbose",
               "--id-type=string", f"--array-delimiter={ARRAY_DELIMITER_OPTION}",
               "--skip-bad-relationships=false", "--skip-duplicate-nodes=false",
               f"--report-file={report}"]
    if files.multiline:
        command.append("--multiline-fields=true")
    if overwrite:
        command.append("--overwrite-destination=true")
    command += [f.argument for f in files.files]
    return command


def run_import(home: Path, database: str, files: ImportFiles, overwrite: bool,
               work: Path) -> str:
    """Run the import; its last lines when it fails, as a UserError (the database in use, one
    that exists without --overwrite)."""
    command = import_command(home, database, files, overwrite, work / "import.report")
    done = subprocess.run(command, env=_environment(home), capture_output=True, text=True,
                          check=False)
    output = (done.stdout + done.stderr).strip()
    (work / "import.log").write_text(output + "\n", encoding="utf-8")
    if done.returncode != 0:
        output = output.split("\nUSAGE")[0]  # a usage error: its message, not the manual
        lines = [line for line in output.splitlines()
                 if line.strip() and not line.lstrip().startswith(("at ", "..."))]
        causes = [line.strip() for line in lines if "original error:" in line
                  or "data source:" in line]
        tail = "\n".join(causes[:2] or lines[-_TAIL_LINES:])
        hint = ""
        if "in use" in output.lower():
            hint = f" ({RUNNING_HINT})"
        elif "already" in output.lower() and "exist" in output.lower():
            hint = f" ({EXISTS_HINT})"
        raise UserError(f"neo4j-admin import into {database!r} at {home} failed{hint}:\n{tail}")
    return output


def start_server(command: str, home: Path) -> None:
    """Run the command that starts the server of `home` (NEO4J_HOME is set to it)."""
    done = subprocess.run(shlex.split(command), env=_environment(home), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-_TAIL_LINES:])
        raise UserError(f"the start command {command!r} failed (exit {done.returncode}):\n{tail}")


def wait_for_store(uri: str, auth: tuple[str, str] | None, database: str,
                   seconds: float) -> Neo4jStore:
    """The store at `uri`, opened (which creates the constraints and indexes it expects),
    retrying until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        store = Neo4jStore(uri, auth=auth, database=database)
        try:
            store.open()
            return store
        except StoreUnavailableError:
            store.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def describe(command: Sequence[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)
