"""How a command that used a Temporal client leaves: temporalio's native threads could abort the
interpreter's teardown (temporalio/sdk-python#300), measured at 12 of 40 short client-only processes
here, SIGABRT or SIGSEGV after the output was written. The console script leaves without that
teardown (gridjourney/cli/__init__.py)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.cli.test_subscriptions import gridjourney

RUNS = 12  # without the fix this command crashed 7 times in 30: all 12 pass by chance 1 time in 25


async def test_commands_that_used_temporal_exit_with_their_own_status_every_time(
    database_url: str, temporal_dev_env: WorkflowEnvironment
) -> None:
    address = temporal_dev_env.client.service_client.config.target_host
    for _ in range(RUNS):  # one after another: run side by side, the crash hid (timing)
        code, output = await gridjourney(
            database_url, "journeys", "schedules", "--sync", GRIDJOURNEY_TEMPORAL_ADDRESS=address
        )
        assert code == 0, output  # not -6 (SIGABRT) nor -11 (SIGSEGV)
        assert "no published journey starts on a schedule" in output  # the output was flushed first
    # a command's own failure status survives the early exit
    code, output = await gridjourney(
        database_url, "journeys", "schedules", "--sync", GRIDJOURNEY_TEMPORAL_ADDRESS="127.0.0.1:1"
    )
    assert code == 1 and "Temporal at 127.0.0.1:1" in output
