"""Twilio's webhooks: `POST /webhooks/twilio/status` (delivery reports) and `POST
/webhooks/twilio/inbound` (replies: STOP, START, HELP and the rest).

No API key: Twilio cannot send one. Its signature is the authentication: a request without a valid
`X-Twilio-Signature` for the configured public URL gets 403 and records nothing
(gridjourney/inbound/twilio_signature.py). The logic is in gridjourney/inbound/.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError
from starlette.datastructures import ImmutableMultiDict
from twilio.twiml.messaging_response import MessagingResponse

from gridjourney.api.deps import EngineDep, SettingsDep, StoreDep, read_limited_body
from gridjourney.api.problems import (
    PROBLEM_MEDIA_TYPE,
    ApiProblem,
    FieldError,
    Problem,
    invalid,
    problem_responses,
    pydantic_errors,
)
from gridjourney.config import Settings
from gridjourney.events.fields import LongLabel, Phone, Text
from gridjourney.inbound.twilio_inbound import InboundSms, answer_inbound
from gridjourney.inbound.twilio_signature import SIGNATURE_HEADER, is_signed, signed_url
from gridjourney.inbound.twilio_status import StatusReport, record_status
from gridjourney.policy.loader import PolicyErrors, policy_from_settings
from gridjourney.policy.model import Policy

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
TWIML_MEDIA_TYPE = "application/xml"

FormT = TypeVar("FormT", bound=BaseModel)
Sid = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9a-fA-F]{32}$")]


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


class _Form(BaseModel):
    # Twilio sends many more parameters (AccountSid, NumMedia, FromCity, ...): only these are used.
    model_config = ConfigDict(extra="ignore")


class StatusForm(_Form):
    MessageSid: Sid
    MessageStatus: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,30}$")]
    ErrorCode: Annotated[
        str | None, BeforeValidator(_blank_is_none), StringConstraints(pattern=r"^\d{1,10}$")
    ] = None
    To: Annotated[Phone | None, BeforeValidator(_blank_is_none)] = None


class InboundForm(_Form):
    MessageSid: Sid
    From: Phone
    Body: Text = ""


class _Key(BaseModel):
    key: LongLabel


class StatusRecorded(BaseModel):
    event_type: str | None = Field(
        description="The event recorded; null for a status not recorded (sent, ...)."
    )
    recorded: bool = Field(description="False also when this report was recorded before (a retry).")
    suppressed: str | None = Field(None, description="The suppression reason added for the number, if any.")


_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": f"`{SIGNATURE_HEADER}` is missing or not Twilio's for this URL and body",
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
    }
}


def _documented_body(
    example: dict[str, str], required: list[str], query: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in example}
    parameters = [
        *(query or []),
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Base64 HMAC-SHA1 of the URL and the sorted form parameters (auth token).",
        },
    ]
    return {
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {
                FORM_MEDIA_TYPE: {
                    "schema": {"type": "object", "properties": properties, "required": required},
                    "example": example,
                }
            },
        },
    }


async def _signed_form(request: Request, settings: Settings) -> ImmutableMultiDict[str, str]:
    """The form parameters of a request Twilio signed; 403 (before anything is read from them) if not."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_MEDIA_TYPE:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Twilio posts form parameters",
            f"send {FORM_MEDIA_TYPE}, as Twilio does",
            [FieldError(field="Content-Type", reason=f"is {content_type or 'missing'}")],
        )
    raw = await read_limited_body(request, settings.max_event_body_bytes)
    try:
        params = ImmutableMultiDict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        params = None
    url = signed_url(settings, request.url.path, request.scope.get("query_string", b"").decode("latin-1"))
    signature = request.headers.get(SIGNATURE_HEADER)
    if params is None or not is_signed(settings, url, params, signature):
        raise ApiProblem(
            403,
            "invalid-signature",
            "The request is not signed by Twilio",
            f"{SIGNATURE_HEADER} must be Twilio's signature of {url} and the form parameters, made with "
            "the account's auth token (is GRIDJOURNEY_PUBLIC_BASE_URL the URL Twilio calls?)",
            [FieldError(field=SIGNATURE_HEADER, reason="missing" if not signature else "does not match")],
        )
    return params


def _parsed(model: type[FormT], params: ImmutableMultiDict[str, str]) -> FormT:
    repeated = [
        FieldError(field=name, reason="given more than once")
        for name in model.model_fields
        if len(params.getlist(name)) > 1
    ]
    if repeated:
        raise invalid("a parameter is repeated", repeated)
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        errors = pydantic_errors(error.errors())  # type: ignore[arg-type]
        raise invalid(f"{len(errors)} invalid parameter(s); nothing was recorded", errors) from None


@router.post(
    "/status",
    summary="Twilio status callback: delivered, undelivered or failed",
    description="Set by the engine as the StatusCallback of every SMS, with the message's idempotency key "
    "as `key`. delivered/undelivered/failed become message.* events with the error code; 30003, 30005, "
    "30006 and 21610 also suppress the number. Other statuses are acknowledged and not recorded. "
    "Repeats record nothing.",
    responses=_FORBIDDEN | problem_responses(413, 415, 422),
    openapi_extra=_documented_body(
        {
            "MessageSid": "SM" + "0" * 32,
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "To": "+15035550142",
        },
        ["MessageSid", "MessageStatus"],
        [
            {
                "name": "key",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 300},
                "description": "The message's idempotency key, as the engine put it in the callback URL.",
            }
        ],
    ),
)
async def twilio_status(
    request: Request, settings: SettingsDep, engine: EngineDep, store: StoreDep
) -> StatusRecorded:
    params = await _signed_form(request, settings)
    keys = request.query_params.getlist("key")
    if len(keys) != 1:
        reason = "missing: the callback URL names the message" if not keys else "given more than once"
        raise invalid("the callback URL has no single key", [FieldError(field="key", reason=reason)])
    key = _parsed(_Key, ImmutableMultiDict({"key": keys[0]})).key
    form = _parsed(StatusForm, params)
    report = StatusReport(key, form.MessageSid, form.MessageStatus, form.ErrorCode, form.To)
    outcome = await record_status(engine, store, report, datetime.now(UTC))
    return StatusRecorded(
        event_type=outcome.event_type, recorded=outcome.recorded, suppressed=outcome.suppressed
    )


@router.post(
    "/inbound",
    summary="Twilio incoming SMS: STOP, START, HELP or a reply for journeys",
    description="STOP and plain-language opt-outs (English, Spanish) revoke SMS consent for every purpose "
    "and suppress the number; START, UNSTOP (and YES after a STOP) restore it; HELP answers with the "
    "policy's text. Anything else is recorded as message.received. The answer is TwiML.",
    response_class=Response,
    responses={200: {"content": {TWIML_MEDIA_TYPE: {}}, "description": "TwiML: the reply, if any"}}
    | _FORBIDDEN
    | problem_responses(413, 415, 422, 503),
    openapi_extra=_documented_body(
        {"MessageSid": "SM" + "0" * 32, "From": "+15035550142", "To": "+15005550006", "Body": "STOP"},
        ["MessageSid", "From"],
    ),
)
async def twilio_inbound(
    request: Request, settings: SettingsDep, engine: EngineDep, store: StoreDep
) -> Response:
    params = await _signed_form(request, settings)
    form = _parsed(InboundForm, params)
    sms = InboundSms(message_sid=form.MessageSid, from_number=form.From, body=form.Body)
    answer = await answer_inbound(engine, store, _answering_policy(request, settings), sms, datetime.now(UTC))
    twiml = MessagingResponse()
    if answer.reply is not None:
        twiml.message(answer.reply)
    return Response(str(twiml), media_type=TWIML_MEDIA_TYPE)


def _answering_policy(request: Request, settings: Settings) -> Policy:
    """The policy file as it is now, or else the last version of it this app loaded: an edit that
    breaks the file while the API runs must not turn every STOP into a 500 (logged until fixed)."""
    try:
        policy = policy_from_settings(settings)
    except PolicyErrors as errors:
        last_good: Policy | None = getattr(request.app.state, "last_good_policy", None)
        if last_good is None:
            log.error("no policy to answer SMS with: %s", errors)
            raise ApiProblem(
                503, "policy-unavailable", "The compliance policy does not load", str(errors)
            ) from None
        log.error("answering SMS with the last policy that loaded; the file does not: %s", errors)
        return last_good
    request.app.state.last_good_policy = policy
    return policy
