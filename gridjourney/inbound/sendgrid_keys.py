"""The ECDSA P-256 key pair that signs SendGrid Event Webhook requests.

SendGrid signs with its own private key and shows the account the public one (base64 of the DER
SubjectPublicKeyInfo), which GRIDJOURNEY_SENDGRID_WEBHOOK_PUBLIC_KEY carries. When that is unset the
embedded stack plays SendGrid: a pair is generated once under `home` (owner-only file, like
encryption-keys.json in gridjourney/privacy/keyring.py); the SendGrid stand-in signs with its private
half and the API verifies with its public half.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridjourney.config import Settings

KEY_FILE = "sendgrid-webhook-key.pem"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def embedded_signing_key(home: Path) -> ec.EllipticCurvePrivateKey:
    """The embedded stack's signing key, created on first use and read back ever after."""
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written whole, then linked into place: a process starting at the same moment either sees
        # no file or a complete one, and only one key ever wins.
        fd, temporary = tempfile.mkstemp(dir=home, prefix=".sendgrid-key-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an ECDSA key; delete it to have a new one generated")
    return key


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The public half as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo, one line."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def webhook_public_key(settings: Settings) -> str:
    """The key Event Webhook requests are verified with: the configured one, else the embedded one."""
    if settings.sendgrid_webhook_public_key:
        return settings.sendgrid_webhook_public_key
    return public_key_text(embedded_signing_key(settings.home))


def sign_payload(key: ec.EllipticCurvePrivateKey, timestamp: str, payload: bytes) -> str:
    """SendGrid's signature of a request: ECDSA with SHA-256 over the timestamp header followed by
    the raw body, DER-encoded, base64."""
    signature = key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()
