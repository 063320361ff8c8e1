"""The Temporal codec server protocol over HTTP, so the Temporal UI (and CLI) can show sealed payloads
to an operator: `POST /decode` and `POST /encode` take and give `{"payloads": [...]}` in protobuf's
JSON form (metadata values and data in base64).

Only an API key with the `admin` scope may call it: decoding shows customers' personal data. Browsers
reach it from the Temporal UI's origin, so that origin (a setting) is allowed by CORS.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payloads

from gridjourney.api.deps import Admin
from gridjourney.api.key_cache import KeyCache
from gridjourney.api.middleware import install_middleware
from gridjourney.api.problems import FieldError, install_problem_handlers, invalid
from gridjourney.config import Settings
from gridjourney.privacy.codec import EncryptionCodec
from gridjourney.privacy.keyring import Keyring

PayloadsBody = Annotated[
    dict[str, Any],
    Body(examples=[{"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}]),
]


def _parse(body: dict[str, Any]) -> Payloads:
    try:
        return json_format.ParseDict(body, Payloads())
    except (json_format.ParseError, DecodeError) as error:
        raise invalid(
            "the body is not a list of Temporal payloads", [FieldError(field="payloads", reason=str(error))]
        ) from None


def _dump(payloads: Payloads) -> dict[str, Any]:
    out: dict[str, Any] = json_format.MessageToDict(payloads)
    return {"payloads": out.get("payloads", [])}


def create_codec_app(settings: Settings, keyring: Keyring, engine: AsyncEngine) -> FastAPI:
    codec = EncryptionCodec(keyring)
    app = FastAPI(title="gridjourney codec server", docs_url=None, redoc_url=None)
    app.state.engine = engine  # read by the API's authentication (api/deps.py), through its key cache
    app.state.key_cache = KeyCache(engine, settings.api_key_cache_seconds)
    install_problem_handlers(app)
    # The API's own door: bodies bounded and checked before anything (authentication included) reads them.
    install_middleware(app, settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.codec_server_cors_origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    @app.post("/decode", summary="Open sealed payloads (unsealed ones come back unchanged)")
    async def decode(body: PayloadsBody, _: Admin) -> dict[str, Any]:
        payloads = _parse(body)
        try:
            opened = await codec.decode(list(payloads.payloads))
        except Exception as error:  # an unknown key id or altered data: say which, never the content
            raise invalid(
                "a payload could not be opened", [FieldError(field="payloads", reason=type(error).__name__)]
            ) from None
        return _dump(Payloads(payloads=opened))

    @app.post("/encode", summary="Seal payloads with the active key")
    async def encode(body: PayloadsBody, _: Admin) -> dict[str, Any]:
        return _dump(Payloads(payloads=await codec.encode(list(_parse(body).payloads))))

    return app
