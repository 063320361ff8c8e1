"""Which handler errors are transient, and how an error is described without the data it was about."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.events.failures import describe, is_transient


class Profile(BaseModel):
    name: str = Field(max_length=5)


def refused(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Profile(name=value)
    return caught.value


async def test_a_database_error_is_described_by_its_primary_message_only(engine: AsyncEngine) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:value AS varchar(3))::int"), {"value": "secret-phone"})

    description = describe(caught.value)
    assert description.startswith("InvalidTextRepresentation: ")
    assert "SELECT" not in description and "[parameters" not in description
    assert not is_transient(caught.value)


async def test_a_lost_database_connection_is_transient(engine: AsyncEngine) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert is_transient(caught.value)


def test_a_validation_error_names_fields_and_rules_but_not_the_input() -> None:
    description = describe(refused("Ana Maria Lopez"))
    assert description == "ValidationError: name: String should have at most 5 characters"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionError("reset"), True),
        (TimeoutError(), True),
        (psycopg.OperationalError("server closed the connection"), True),
        (RPCError("down", RPCStatusCode.UNAVAILABLE, b""), True),
        (RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""), False),
        (KeyError("rule"), False),
        (ValueError("fold bug"), False),
    ],
)
def test_dependency_failures_are_transient_and_logic_errors_are_not(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient


def test_a_transient_cause_makes_the_error_transient() -> None:
    try:
        try:
            raise ConnectionError("reset")
        except ConnectionError as cause:
            raise RuntimeError("routing failed") from cause
    except RuntimeError as error:
        assert is_transient(error)
