"""Audience tags: how a device learns that an event hidden from it was not addressed to it.

The relay serves a member whose party is outside an event's audience a *hidden entry* in place of the header:
the event id, its nonce and its tags (``parley.protocol.events.HiddenEvent``). The author writes one tag per
recipient device into the signed header, and pads the list with random tags to the number of devices in the
negotiation, so the count tells nothing of the audience. A device finding its own tag in a hidden entry knows
the relay withheld an event addressed to it.

A tag is ``HMAC-SHA256(k, "parley audience tag v1" || nonce || recipient)`` cut to 16 bytes, where ``k`` is
HKDF-SHA256 of the X25519 shared secret of the author's and the recipient's age keys (their
``AGE-SECRET-KEY-1...`` identities and ``age1...`` recipients, decoded with the BIP-173 reference ``bech32``).
Only the author and that recipient can compute it: another party holding every public key cannot tell whose
tag is whose, nor tell a real tag from padding.
"""

from __future__ import annotations

import hmac
import secrets
from functools import lru_cache
from hashlib import sha256

import bech32
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from parley.crypto.keys import b64encode
from parley.errors import InputError

TAG_BYTES = 16
_LABEL = b"parley audience tag v1"


def _age_key_bytes(text: str, hrp: str) -> bytes:
    """The 32 key bytes of an age identity or recipient string.

    Raises:
        InputError: not a bech32 string with that human-readable part and 32 bytes of key.
    """
    found, data = bech32.bech32_decode(text)
    if found != hrp or data is None:
        raise InputError(f"not an age key ({hrp}1...)")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 32:
        raise InputError(f"not an age key ({hrp}1...)")
    return bytes(raw)


@lru_cache(maxsize=4096)
def _pair_key(identity: str, peer_recipient: str) -> bytes:
    private = X25519PrivateKey.from_private_bytes(_age_key_bytes(identity, "age-secret-key-"))
    shared = private.exchange(X25519PublicKey.from_public_bytes(_age_key_bytes(peer_recipient, "age")))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(shared)


def audience_tag(identity: str, peer_recipient: str, nonce: str, recipient: str) -> str:
    """The tag (base64) naming ``recipient`` (an ``age1...`` key) in the event with ``nonce``, computed by one
    end of the pair: the author (``identity`` its own, ``peer_recipient`` the recipient's key) or the
    recipient (``identity`` its own, ``peer_recipient`` the author's key). Both get the same tag.

    Raises:
        InputError: a key is not an age X25519 key.
    """
    key = _pair_key(identity, peer_recipient)
    message = _LABEL + b"\x00" + nonce.encode() + b"\x00" + recipient.encode()
    return b64encode(hmac.new(key, message, sha256).digest()[:TAG_BYTES])


def audience_tags(identity: str, nonce: str, recipients: list[str], padded_to: int) -> tuple[str, ...]:
    """The sorted tags of an event from the author holding ``identity`` to ``recipients`` (``age1...`` keys),
    padded with random tags to ``padded_to`` (at least one per recipient).

    Raises:
        InputError: a key is not an age X25519 key.
    """
    tags = {audience_tag(identity, recipient, nonce, recipient) for recipient in recipients}
    while len(tags) < max(padded_to, len(recipients)):
        tags.add(b64encode(secrets.token_bytes(TAG_BYTES)))
    return tuple(sorted(tags))


def addressed_to(identity: str, own_recipient: str, authors: list[str], nonce: str, tags: tuple[str, ...]) -> bool:
    """Whether tags of an event with ``nonce`` name this device (``identity`` and its ``own_recipient``) as a
    recipient of an author holding one of the ``authors`` keys (``age1...``).

    Raises:
        InputError: a key is not an age X25519 key.
    """
    wanted = set(tags)
    return any(audience_tag(identity, author, nonce, own_recipient) in wanted for author in authors)


__all__ = ["TAG_BYTES", "addressed_to", "audience_tag", "audience_tags"]
