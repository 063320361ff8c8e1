"""Twilio's request signature (`X-Twilio-Signature`), checked with the official helper.

Twilio signs the URL it calls, exactly as configured (our public URL, path and query string), and the
POST's form parameters, with the account's auth token. Behind a proxy the URL the API sees is not the
one Twilio called, so the signed URL is rebuilt from the configured public base URL
(`gridjourney.config.public_base_url`).
"""

from __future__ import annotations

from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from gridjourney.config import Settings, public_base_url

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_url(settings: Settings, path: str, query_string: str) -> str:
    """The URL Twilio called: the public base URL, the path and the query string as sent."""
    url = public_base_url(settings) + path
    return f"{url}?{query_string}" if query_string else url


def is_signed(
    settings: Settings, url: str, params: ImmutableMultiDict[str, str], signature: str | None
) -> bool:
    """True when `signature` is Twilio's for this URL and these form parameters (every value of a
    repeated parameter counts, as Twilio signs them)."""
    if not signature:
        return False
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return bool(validator.validate(url, params, signature))
