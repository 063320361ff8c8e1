from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from gridjourney.devstack import register_search_attributes
from tests.workflows.standins import StandIns, running_workers


@pytest.fixture
def standins() -> StandIns:
    return StandIns()


@pytest.fixture
async def env(
    time_skipping_env: WorkflowEnvironment, standins: StandIns
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server with our search attributes and both workers running."""
    await register_search_attributes(time_skipping_env.client)
    async with running_workers(time_skipping_env.client, standins):
        yield time_skipping_env
