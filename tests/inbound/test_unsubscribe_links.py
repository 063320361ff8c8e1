"""The unsubscribe tokens' prepared signer (inbound/unsubscribe_links.py): it is the one that signs, and
its signatures are itsdangerous's own."""

from __future__ import annotations

from itsdangerous import Signer, URLSafeSerializer

from gridjourney.inbound.unsubscribe_links import SALT, UnsubscribeLinks, _PreparedSigner

OLD, ACTIVE = b"old secret", b"active secret"


def test_tokens_are_signed_by_one_prepared_signer() -> None:
    serializer = UnsubscribeLinks([OLD, ACTIVE], "https://gj.example")._serializer
    signer = serializer.make_signer()
    assert isinstance(signer, _PreparedSigner)
    assert serializer.make_signer() is signer


def test_the_prepared_signature_is_itsdangerous_own() -> None:
    prepared, plain = _PreparedSigner([OLD, ACTIVE], salt=SALT), Signer([OLD, ACTIVE], salt=SALT)
    for value in (b"", b"payload", "naïve text".encode(), b"x" * 1000):
        assert prepared.get_signature(value) == plain.get_signature(value)
        assert prepared.sign(value) == plain.sign(value)
    assert prepared.get_signature("text") == plain.get_signature("text")


def test_a_token_reads_with_plain_itsdangerous_under_the_active_key() -> None:
    links = UnsubscribeLinks([OLD, ACTIVE], "https://gj.example")
    token = links.token("C-1", "email", "marketing")
    assert URLSafeSerializer(ACTIVE, salt=SALT).loads(token) == ["C-1", "email", "marketing"]
    assert links.read(token).customer_id == "C-1"


def test_a_token_is_the_one_plain_itsdangerous_makes() -> None:
    links = UnsubscribeLinks([OLD, ACTIVE], "https://gj.example")
    plain = URLSafeSerializer(ACTIVE, salt=SALT)
    for customer_id in ("C-1", "cust_00042", "José-Ñ", 'a"b\\c', "x" * 60):
        for channel, purpose in (("email", "marketing"), ("sms", "informational"), ("push", "safety")):
            token = links.token(customer_id, channel, purpose)  # type: ignore[arg-type]
            expected = plain.dumps([customer_id, channel, purpose])
            # itsdangerous compresses when that is shorter (a leading "."); ours never does.
            if not expected.startswith("."):
                assert token == expected
            assert plain.loads(token) == [customer_id, channel, purpose]
