"""CPU seconds by process while a benchmark runs: this process (workers, client, stand-ins), the
Temporal dev server it started, and the Postgres server (its postmaster and every backend, reaped
ones included). On a shared machine, CPU per unit of work compares two variants where wall time cannot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]


def _seconds(process: psutil.Process, with_reaped_children: bool) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # exited between listing and reading
        return 0.0
    total: float = times.user + times.system
    if with_reaped_children:
        total += times.children_user + times.children_system
    return total


@dataclass(frozen=True)
class CpuSample:
    bench: float
    temporal: float
    postgres: float

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(
            self.bench - other.bench, self.temporal - other.temporal, self.postgres - other.postgres
        )


class ProcessCpu:
    """Reads the CPU of this process, its child processes (the Temporal dev server) and the Postgres
    whose data directory is `pg_data`."""

    def __init__(self, pg_data: Path) -> None:
        self._me = psutil.Process()
        self._postmaster = psutil.Process(int((pg_data / "postmaster.pid").read_text().split()[0]))

    def sample(self) -> CpuSample:
        temporal = sum(_seconds(child, True) for child in self._me.children(recursive=True))
        postgres = _seconds(self._postmaster, True) + sum(
            _seconds(child, False) for child in self._postmaster.children(recursive=True)
        )
        return CpuSample(_seconds(self._me, False), temporal, postgres)
