"""The Event Webhook key pair of the embedded stack: generated once under home, owner-only; the API
verifies with the configured public key when there is one."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from gridjourney.config import Settings
from gridjourney.inbound.sendgrid_keys import (
    KEY_FILE,
    embedded_signing_key,
    public_key_text,
    sign_payload,
    webhook_public_key,
)


def test_the_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = embedded_signing_key(home)
    assert isinstance(first.curve, ec.SECP256R1)
    assert public_key_text(embedded_signing_key(home)) == public_key_text(first)
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_the_public_key_is_the_embedded_one_unless_configured(tmp_path: Path) -> None:
    embedded = webhook_public_key(Settings(home=tmp_path))
    assert embedded == public_key_text(embedded_signing_key(tmp_path))
    other = public_key_text(ec.generate_private_key(ec.SECP256R1()))
    assert webhook_public_key(Settings(home=tmp_path, sendgrid_webhook_public_key=other)) == other


def test_signatures_verify_with_the_sendgrid_library(tmp_path: Path) -> None:
    key = embedded_signing_key(tmp_path)
    payload = b'[{"event":"delivered"}]'
    signature = sign_payload(key, "1784066400", payload)
    verifier = EventWebhook(public_key_text(key))
    assert verifier.verify_signature(payload.decode(), signature, "1784066400")
    assert not verifier.verify_signature(payload.decode(), signature, "1784066401")
