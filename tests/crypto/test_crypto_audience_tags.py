"""Audience tags: the author and the recipient compute the same tag; nobody else can tell it from padding."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parley.crypto.audience_tags import _age_key_bytes, addressed_to, audience_tag, audience_tags
from parley.crypto.keys import EncryptionKey, new_nonce
from parley.errors import InputError


def test_age_keys_decode_to_the_x25519_pair_age_uses() -> None:
    key = EncryptionKey.generate()
    private = X25519PrivateKey.from_private_bytes(_age_key_bytes(key.identity, "age-secret-key-"))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public == _age_key_bytes(key.recipient, "age")


def test_author_and_recipient_compute_the_same_tag_and_an_outsider_finds_none() -> None:
    author, reader, outsider = EncryptionKey.generate(), EncryptionKey.generate(), EncryptionKey.generate()
    nonce = new_nonce()
    tags = audience_tags(author.identity, nonce, [reader.recipient, author.recipient], padded_to=12)
    assert len(tags) == 12 and list(tags) == sorted(tags)
    assert audience_tag(reader.identity, author.recipient, nonce, reader.recipient) in tags
    assert addressed_to(reader.identity, reader.recipient, [outsider.recipient, author.recipient], nonce, tags)
    assert addressed_to(author.identity, author.recipient, [author.recipient], nonce, tags)
    assert not addressed_to(outsider.identity, outsider.recipient, [author.recipient, reader.recipient], nonce, tags)
    # Another event (another nonce): other tags, so two events to the same reader cannot be linked.
    assert not set(tags) & set(audience_tags(author.identity, new_nonce(), [reader.recipient], padded_to=1))


def test_padding_never_drops_a_recipient() -> None:
    author = EncryptionKey.generate()
    readers = [EncryptionKey.generate() for _ in range(3)]
    assert len(audience_tags(author.identity, new_nonce(), [r.recipient for r in readers], padded_to=1)) == 3


@pytest.mark.parametrize("bad", ["age1notakey", "AGE-SECRET-KEY-1XYZ", "", "ssh-ed25519 AAAA"])
def test_a_key_that_is_not_an_age_key_is_refused(bad: str) -> None:
    author = EncryptionKey.generate()
    with pytest.raises(InputError):
        audience_tags(author.identity, new_nonce(), [bad], padded_to=1)
