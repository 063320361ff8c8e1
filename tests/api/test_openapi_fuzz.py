"""schemathesis against the real API: a uvicorn server on 127.0.0.1 over a fresh migrated database,
called with a real admin key. Every generated request must get a documented status and a response
that conforms to the documented schema, and never a server error."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Err
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.deps import lazy_temporal_client
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.temporal import data_converter


@pytest.fixture
def live_api(settings: Settings, database_url: str, temporal_dev_env: WorkflowEnvironment) -> Iterator[str]:
    # The server connects on its own event loop (a client is bound to the loop it was made in).
    address = temporal_dev_env.client.service_client.config.target_host
    temporal = lazy_temporal_client(address, temporal_dev_env.client.namespace, data_converter(settings))
    app = create_app(settings, create_engine(database_url), temporal, dispose_engine=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# Examples per operation and generation mode: enough to reach every parameter and status, and the whole
# run stays well under a minute.
EXAMPLES = 40
# Server errors and conformance to the document. Not `positive_data_acceptance`: a value can fit the
# schema and still be refused for what JSON Schema cannot say (a phone number that does not exist, a
# time beyond the configured bounds); those refusals are documented 422s.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.allow_header_conformance,
]


# Requests that are not valid HTTP never reach the app: the server (uvicorn) answers them itself.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "upgrade", "expect"}


def reaches_the_app(case: schemathesis.Case[Any]) -> bool:
    for name, value in (case.headers or {}).items():
        if not HEADER_NAME.match(name) or name.lower() in FRAMING_HEADERS:
            return False
        if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in str(value)):
            return False
    return True


def checks_for(operation: str) -> list[schemathesis.CheckFunction]:
    # No projections run here, so /healthz rightly reports lagging subscriptions: its documented 503.
    if operation == "GET /healthz":
        return [check for check in CHECKS if check is not checks.not_a_server_error]
    return CHECKS


def test_every_operation_conforms(live_api: str, admin: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the document has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            def call(case: schemathesis.Case[Any]) -> None:
                assume(reaches_the_app(case))
                case.call_and_validate(headers=admin, checks=checks_for(case.operation.label))

            try:
                call()
            except Unsatisfiable:
                continue  # nothing to negate: the operation takes no parameters and no body
            except (
                Exception,
                BaseExceptionGroup,
            ) as failure:  # every operation is tried; all failures are reported together
                failures.append(f"{operation.label} [{mode.value}]: {failure}")
    assert not failures, "\n\n".join(failures)
