"""A push message's body encrypted to one browser: RFC 8291 (Message Encryption for Web Push) in the
aes128gcm content coding of RFC 8188, one record.

Per message, what the RFC requires and no more: a new ephemeral P-256 key pair, one ECDH with the
browser's key, three HKDF-SHA-256 derivations (the input keying material, then the content key and
nonce) and one AES-128-GCM seal. pywebpush and http_ece did the same work with copies, re-encodings and
key round trips around it, about twice the CPU per push of a send worker.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECORD_SIZE = 4096  # rs in the header: larger than any body we send, so one record
LAST_RECORD = b"\x02"  # the padding delimiter of the final record (RFC 8188 section 2)
AUTH_SECRET_BYTES = 16  # RFC 8291 section 3.2
P256_POINT_BYTES = 65  # an uncompressed point: 0x04, x, y


def decoded_key(text: str, name: str) -> bytes:
    """base64url, padded or not, as browsers write `p256dh` and `auth`. Raises ValueError."""
    try:
        return base64.b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4), b"-_", validate=True)
    except binascii.Error as error:
        raise ValueError(f"{name} is not base64url: {error}") from error


def encrypt(plaintext: bytes, p256dh: str, auth: str) -> bytes:
    """The aes128gcm body of `plaintext` for the browser whose subscription keys are `p256dh` and
    `auth` (base64url). Raises ValueError when the keys are not a P-256 point and a 16-byte secret."""
    receiver_point, auth_secret = decoded_key(p256dh, "p256dh"), decoded_key(auth, "auth")
    if len(auth_secret) != AUTH_SECRET_BYTES:
        raise ValueError(f"the auth secret has {len(auth_secret)} bytes, not {AUTH_SECRET_BYTES}")
    try:
        receiver = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), receiver_point)
    except ValueError as error:
        raise ValueError(f"p256dh is not a P-256 point: {error}") from error
    sender = ec.generate_private_key(ec.SECP256R1())
    sender_point = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = sender.exchange(ec.ECDH(), receiver)
    key_info = b"WebPush: info\x00" + receiver_point + sender_point
    keying = _hkdf(shared, auth_secret, key_info, 32)
    salt = os.urandom(16)
    content_key = _hkdf(keying, salt, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(keying, salt, b"Content-Encoding: nonce\x00", 12)
    record = AESGCM(content_key).encrypt(nonce, plaintext + LAST_RECORD, None)
    header = salt + struct.pack("!IB", RECORD_SIZE, P256_POINT_BYTES) + sender_point
    return header + record


def _hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)
