"""The Temporal payload codec: every workflow and activity payload is encrypted with AES-GCM.

An encoded payload keeps only two metadata entries in the clear: the encoding marker and the id of
the key it was sealed with, so that any configured key (rotation) can open it. Payloads without the
marker pass through decode unchanged: histories written before the codec keep replaying.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from gridjourney.privacy.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        key_id, sealed = self.keyring.encrypt(payload.SerializeToString(), ENCODING)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=sealed)

    def decode_one(self, payload: Payload) -> Payload:
        """Raises UnknownKeyId for a key id no longer configured, InvalidTag for altered data."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata[KEY_ID_METADATA].decode()
        return Payload.FromString(self.keyring.decrypt(key_id, payload.data, ENCODING))
