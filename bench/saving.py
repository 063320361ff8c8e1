"""Where a benchmark's figures go: stamped with the machine and the time, saved as
`bench/results/<kind>-<UTC time>.json` (or another directory), one file per run."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def stamped(figures: dict[str, Any], cpus: int | None = None) -> dict[str, Any]:
    """The figures with the machine they were measured on and when. `cpus`: the CPUs this process may
    use, when that is not the machine's count."""
    figures["machine"] = f"{platform.machine()}, {platform.python_version()}, {cpus or os.cpu_count()} cpus"
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return figures


def save(figures: dict[str, Any], directory: Path, kind: str) -> Path:
    """Write the figures as JSON; print and return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {out}")
    return out
