"""The benchmark's own process run as `gridjourney worker` and `router` processes run."""

from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path


def as_production_process() -> None:
    """Bytecode read from a cache, and the imported modules frozen out of the garbage collector's walks
    (gridjourney/worker.py).

    The workflow sandbox imports the workflow's module afresh for every run. An installed package has
    its bytecode compiled (pip compiles at install); a machine with PYTHONDONTWRITEBYTECODE set would
    compile journey.py from source for every journey instead, which production never does."""
    if sys.dont_write_bytecode:
        sys.pycache_prefix = str(Path(tempfile.gettempdir()) / "gridjourney-bench-pycache")
        sys.dont_write_bytecode = False
    gc.freeze()
