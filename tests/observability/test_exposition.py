"""The workers' own /metrics endpoint, fetched through the provider session: the fetch itself is a
provider call as the senders make them, so the latency histogram must count it."""

from __future__ import annotations

from pathlib import Path

from gridjourney.channels.provider_http import provider_session
from gridjourney.config import Settings
from gridjourney.observability.exposition import serve_metrics
from tests.observability.scrape import families, value


async def test_the_worker_endpoint_serves_every_family_and_times_provider_calls(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, metrics_port=0)
    async with serve_metrics(settings, database_url) as port, provider_session("twilio") as session:
        assert port
        url = f"http://127.0.0.1:{port}/metrics"
        async with session.get(url) as response:
            assert response.status == 200
            first = await response.text()
        async with session.get(url) as response:
            text = await response.text()
    # labelled by the provider's name, whatever host answers
    calls = "gridjourney_provider_call_seconds_count"
    moved = value(text, calls, provider="twilio", outcome="2xx") - value(
        first, calls, provider="twilio", outcome="2xx"
    )
    assert moved == 1  # the first fetch, counted by the time of the second
    assert {
        "gridjourney_events_appended",
        "gridjourney_provider_call_seconds",
        "gridjourney_subscription_lag_positions",
        "gridjourney_ledger_rows_in_doubt",
        "gridjourney_dead_letters",
        "gridjourney_database_up",
    } <= families(text)
    assert value(text, "gridjourney_database_up") == 1


async def test_without_a_port_nothing_is_served(database_url: str, tmp_path: Path) -> None:
    async with serve_metrics(Settings(home=tmp_path), database_url) as port:
        assert port is None
