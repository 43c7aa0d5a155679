"""docker-compose.yml parses, and its Neo4j agrees with the project's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lineage.settings import COMPOSE_NEO4J_PASSWORD, COMPOSE_NEO4J_USER, NEO4J_BOLT_PORT

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document["services"]  # type: ignore[no-any-return]


def test_compose_declares_neo4j_526_community_and_orthanc() -> None:
    found = services()
    image = found["neo4j"]["image"]
    assert image.startswith("neo4j:5.26") and "community" in image
    guard = "NEO4J_dbms_security_allow__csv__import__from__file__urls"
    assert found["neo4j"]["environment"][guard] == "false"
    assert "dbms.security.allow_csv_import_from_file_urls=false" in (
        COMPOSE.parent / "tools" / "neo4j" / "neo4j-local").read_text()
    assert "orthanc" in found["orthanc"]["image"]
    for name in ("neo4j", "orthanc"):
        assert found[name]["healthcheck"]["test"], f"{name} has no healthcheck"


def test_compose_api_service_uses_the_compose_neo4j() -> None:
    api = services()["api"]
    assert api["build"] == "." and (COMPOSE.parent / "Dockerfile").is_file()
    neo4j_port = services()["neo4j"]["ports"][0].rsplit(":", 1)[-1]
    assert api["environment"]["LINEAGE_STORE"] == f"bolt://neo4j:{neo4j_port}"
    assert api["environment"]["NEO4J_PASSWORD"] == COMPOSE_NEO4J_PASSWORD
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    for package in ("lineage", "connectors", "queries", "api"):
        assert f"COPY {package} {package}" in dockerfile


def test_compose_and_image_run_in_production_without_root() -> None:
    api = services()["api"]
    assert api["environment"]["LINEAGE_ENV"] == "production"
    assert api["env_file"] == [{"path": "lineage-api.env", "required": True}]
    audit = api["environment"]["LINEAGE_AUDIT_LOG"]
    assert any(audit.startswith(volume.split(":")[1]) for volume in api["volumes"])
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    cmd = dockerfile.index(next(line for line in dockerfile if line.startswith("CMD")))
    assert dockerfile.index(f"USER {users[-1]}") < cmd


def test_compose_neo4j_credentials_and_port_match_settings() -> None:
    neo4j = services()["neo4j"]
    assert neo4j["environment"]["NEO4J_AUTH"] == f"{COMPOSE_NEO4J_USER}/{COMPOSE_NEO4J_PASSWORD}"
    assert f"-p {COMPOSE_NEO4J_PASSWORD}" in " ".join(neo4j["healthcheck"]["test"])
    published = {port.rsplit(":", 1)[-1]: port for port in neo4j["ports"]}
    assert published[str(NEO4J_BOLT_PORT)].startswith("127.0.0.1:")
    assert published[str(NEO4J_BOLT_PORT)].split(":")[1] == str(NEO4J_BOLT_PORT)
