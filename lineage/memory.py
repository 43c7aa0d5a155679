"""The memory this machine has left, as Linux reports it (`/proc/meminfo`), and the share of it
the engine leaves to everything else when it plans to fill memory (warming a store's files into
the file cache, staging a backfill)."""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")
_RESERVE_SHARE = 10  # per cent of the machine's memory left to everything else
_RESERVE_AT_LEAST = 1 << 30


def read_meminfo(path: Path = MEMINFO) -> dict[str, int]:
    """`/proc/meminfo` in bytes by name (`MemTotal`, `MemAvailable`...). Raises OSError where
    it cannot be read (not Linux)."""
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * 1024
    return values


def size_text(size: int) -> str:
    """A size in bytes as text for people: `8.8 GiB`, below a GiB `56.2 MiB`."""
    if abs(size) < 1 << 30:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / (1 << 30):.1f} GiB"


def reserve(memory: dict[str, int]) -> int:
    """Memory left to everything else: a tenth of the machine's, 1 GiB at least."""
    return max(_RESERVE_AT_LEAST, memory.get("MemTotal", 0) * _RESERVE_SHARE // 100)


def process_rss(path: Path = Path("/proc/self/status")) -> int:
    """This process's resident memory in bytes (`VmRSS`). Raises OSError where it cannot be
    read (not Linux)."""
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no VmRSS in {path}")
