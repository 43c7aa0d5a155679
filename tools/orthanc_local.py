"""A real Orthanc (Debian package `orthanc`, with `orthanc-dicomweb`) on free loopback ports,
with its own storage folder: for tests, benchmarks and demos.

    with OrthancServer(Path("/tmp/pacs")) as pacs:
        pacs.url          # http://127.0.0.1:<port>
        pacs.upload(path) # POST /instances

Run as a script it starts one and waits: `python -m tools.orthanc_local FOLDER`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tools.local_process import free_port, wait_until_answers

PLUGINS = Path("/usr/share/orthanc/plugins")


class OrthancServer:
    def __init__(self, folder: Path, stable_age: int = 2, name: str = "LINEAGE-TEST",
                 settings: dict[str, Any] | None = None):
        self.folder = folder
        self.settings = settings or {}  # more of Orthanc's settings, over the ones below
        self.stable_age = stable_age
        self.name = name
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def config(self) -> dict[str, Any]:
        storage = self.folder / "storage"
        return {
            "Name": self.name,
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "LINEAGETEST",
            "DicomCheckCalledAet": True,  # a wrong called AE title is refused, as archives do
            "DicomAlwaysAllowFind": True,  # C-FIND from any calling AE (reconcile dimse)
            "DicomAlwaysAllowEcho": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "StableAge": self.stable_age,
            "Plugins": [str(PLUGINS)] if PLUGINS.exists() else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "SaveJobs": False,
        } | self.settings

    def start(self, timeout: float = 60) -> None:
        binary = shutil.which("Orthanc")
        if binary is None:
            raise RuntimeError("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb")
        config_dir = self.folder / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "orthanc.json").write_text(json.dumps(self.config(), indent=2))
        log = (self.folder / "orthanc.log").open("ab")
        self.process = subprocess.Popen([binary, str(config_dir)], stdout=log, stderr=log,
                                        env={**os.environ, "TCP_NODELAY": "1"},
                                        start_new_session=True)
        outcome = wait_until_answers(f"{self.url}/system", self.process, timeout)
        if outcome == "exited":
            raise RuntimeError(f"Orthanc exited at start; see {self.folder / 'orthanc.log'}")
        if outcome == "timed out":
            self.stop()
            raise RuntimeError(f"Orthanc did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def upload(self, path: Path) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/instances", content=path.read_bytes(), timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def __enter__(self) -> OrthancServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    with OrthancServer(Path(sys.argv[1] if len(sys.argv) > 1 else "orthanc-data")) as server:
        print(f"Orthanc at {server.url} (DICOM port {server.dicom_port}); Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
