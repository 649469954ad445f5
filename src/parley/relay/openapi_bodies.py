"""The bodies in the relay's OpenAPI description: the cleartext content of public events, and what a member's
client finds once it opens a ciphertext.

The relay never reads a ciphertext: it stores it. The encrypted bodies are described so that a client generated
from ``/openapi.json`` gets the types of what it decrypts along with those of the relay's answers; the
cleartext ones are what the header's ``public`` field holds (``EventHeader`` in ``parley.relay.schemas`` refers
to them). The schemas come from the ``msgspec`` declarations every parley client checks bodies against
(``parley.protocol.bodies.body_schemas()``, ``parley.protocol.record_bodies.record_schemas()``,
``parley.protocol.public_bodies.public_schemas()``) when the description is first built, so there is no second
copy to keep in step:

- ``components.schemas.Body<Kind>`` (``BodyMemorandumDeliver`` for ``memorandum.deliver``, ``BodyHistoryGrant``
  for ``history.grant``): the plaintext of a ciphertext of that event type, ``{"type", "content", "binding"}``
  (docs/interop.md);
- ``components.schemas.Content<Name>`` (``ContentMemorandum``) and ``RecordContent<Name>``
  (``RecordContentTracingRecord``, ``RecordContentGrantedEvent``: one item of a grant, checked on its own):
  the declared content types, referred to by the above;
- ``components.schemas.EncryptedBody``: any of them, a ``oneOf`` discriminated by ``type``;
- ``components.schemas.Public<Kind>`` (``PublicNegotiationGenesis``): a header's ``public`` field of that event
  type, ``{"type", "content"}``, its content a ``PublicContent<Name>`` (``PublicContentGenesis``);
- ``components.schemas.PublicEvent``: any of them, a ``oneOf`` discriminated by ``type``.

The signed objects a public event carries (a party record, certificates, a revocation, a root rotation), which
the cleartext declarations check as objects only, are served as references to the relay's declarations of them
(``components.schemas.PartyRecord``, ``MemberCertificate``, ``Revocation``, ``RootRotation``:
``parley.relay.schemas.SIGNED_OBJECTS``), which the relay checks them against when it applies the event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from parley.errors import ConfigError

ENCRYPTED_BODY = "EncryptedBody"
PUBLIC_EVENT = "PublicEvent"
_BODY_PREFIX = "Body"
_PUBLIC_PREFIX = "Public"
#: the prefix of each declaration set's own types, so that two sets may name a type alike
_CONTENT_PREFIX = "Content"
_RECORD_CONTENT_PREFIX = "RecordContent"
_PUBLIC_CONTENT_PREFIX = "PublicContent"
#: Python's end of string; JSON Schema patterns are ECMA-262, where ``\Z`` is a plain "Z" and ``$`` (without the
#: multiline flag) is the end of the input
_PYTHON_END = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")

_ENCRYPTED_DESCRIPTION = (
    "The decrypted content of one ciphertext of an encrypted event (RFC 8785 canonical JSON): its event type, "
    "its content and the binding to the event's header. The relay never reads it; every parley client refuses "
    "a body that does not match its type's schema. Rules across events (a response to a known memorandum, head "
    "authority, deadlines) are not in the schema.")
_PUBLIC_DESCRIPTION = (
    "The cleartext content of a public event (the header's `public` field): its event type and its content. "
    "The relay and every parley client refuse one that does not match its type's schema; the signed objects "
    "it carries (party record, certificates, revocation, root rotation) are checked further by their own "
    "rules, as are the rules across events (who may invite, join or publish).")
_BINDING = {"type": "string", "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 (hex) of the canonical header without its ciphertexts"}


def component_name(prefix: str, event_type: str) -> str:
    """``("Body", "memorandum.deliver")`` -> ``BodyMemorandumDeliver``."""
    return prefix + "".join(part[:1].upper() + part[1:] for part in re.split(r"[._/-]", event_type) if part)


def body_component_name(event_type: str) -> str:
    """``memorandum.deliver`` -> ``BodyMemorandumDeliver``: the component of an encrypted body."""
    return component_name(_BODY_PREFIX, event_type)


def public_component_name(event_type: str) -> str:
    """``negotiation.genesis`` -> ``PublicNegotiationGenesis``: the component of a header's ``public`` field."""
    return component_name(_PUBLIC_PREFIX, event_type)


def add_body_components(document: dict[str, Any]) -> None:
    """Add the body schemas, encrypted and cleartext, to an OpenAPI ``document`` (in place).

    Raises:
        ConfigError: a body schema's name is already a component of the document (two declarations would
            share one name).
    """
    # Imported here, not at the top: the relay's own requests never need the body declarations, and loading
    # them would lengthen every relay process's start for a document few ask for.
    from parley.protocol.bodies import body_schemas
    from parley.protocol.public_bodies import SIGNED_OBJECT_KEYWORD, public_schemas
    from parley.protocol.record_bodies import record_schemas
    from parley.relay.schemas import SIGNED_OBJECTS

    added: dict[str, Any] = {}
    encrypted: dict[str, str] = {}
    for declared, prefix in ((body_schemas(), _CONTENT_PREFIX), (record_schemas(), _RECORD_CONTENT_PREFIX)):
        convert = _converter(prefix)
        _add(added, {prefix + name: convert(schema) for name, schema in declared["$defs"].items()})
        for event_type, content in sorted(declared["types"].items()):
            if "/" in event_type:  # a part of a body (a grant's item), not an event type: its $defs entry is it
                continue
            name = body_component_name(event_type)
            encrypted[event_type] = f"#/components/schemas/{name}"
            _add(added, {name: {
                "title": name, "type": "object", "required": ["type", "content", "binding"],
                "description": f"The decrypted body of a `{event_type}` event.",
                "properties": {"type": {"const": event_type}, "content": convert(content), "binding": _BINDING}}})
    public: dict[str, str] = {}
    declared = public_schemas()
    signed = {object_type: f"#/components/schemas/{model.__name__}" for object_type, model in SIGNED_OBJECTS.items()}
    convert = _converter(_PUBLIC_CONTENT_PREFIX, {SIGNED_OBJECT_KEYWORD: signed})
    _add(added, {_PUBLIC_CONTENT_PREFIX + name: convert(schema) for name, schema in declared["$defs"].items()})
    for event_type, content in sorted(declared["types"].items()):
        name = public_component_name(event_type)
        public[event_type] = f"#/components/schemas/{name}"
        _add(added, {name: {
            "title": name, "type": "object", "required": ["type", "content"], "additionalProperties": False,
            "description": f"The cleartext content of a `{event_type}` event (the header's `public` field).",
            "properties": {"type": {"const": event_type}, "content": convert(content)}}})
    _add(added, {ENCRYPTED_BODY: _one_of(ENCRYPTED_BODY, _ENCRYPTED_DESCRIPTION, dict(sorted(encrypted.items()))),
                 PUBLIC_EVENT: _one_of(PUBLIC_EVENT, _PUBLIC_DESCRIPTION, public)})
    components = document.setdefault("components", {}).setdefault("schemas", {})
    # the header's own model (parley.relay.schemas.PublicEvent) is only {type, content}: the kinds refine it
    taken = sorted(set(added) & set(components) - {PUBLIC_EVENT})
    if taken:
        raise ConfigError(f"the OpenAPI description already has components named {', '.join(taken)}")
    components.update(added)


def _add(added: dict[str, Any], more: dict[str, Any]) -> None:
    """Raises:
        ConfigError: two declarations would share a component name."""
    taken = sorted(set(added) & set(more))
    if taken:
        raise ConfigError(f"two body declarations share the component names {', '.join(taken)}")
    added.update(more)


def _one_of(title: str, description: str, mapping: dict[str, str]) -> dict[str, Any]:
    return {"title": title, "description": description, "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "type", "mapping": mapping}}


def _converter(prefix: str, named: dict[str, dict[str, str]] | None = None) -> Callable[[Any], Any]:
    """What turns a schema of one declaration set (``$defs`` references, Python patterns) into its served form:
    references into ``components`` under ``prefix``, patterns that read the same in ECMA-262 as in Python, and
    a schema holding a keyword of ``named`` (keyword -> its value -> a reference) that reference alone.

    Raises (``convert``):
        ConfigError: a keyword of ``named`` with a value it does not know.
    """
    named = named or {}

    def convert(schema: Any) -> Any:
        if isinstance(schema, list):
            return [convert(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        for keyword, references in named.items():
            if keyword in schema:
                if schema[keyword] not in references:
                    raise ConfigError(f"no component declares the {keyword} '{schema[keyword]}'")
                return {"$ref": references[schema[keyword]]}
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + prefix + value.removeprefix("#/$defs/")
            elif key == "pattern" and isinstance(value, str):
                out[key] = _PYTHON_END.sub(r"\1$", value)
            elif key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
                out[key] = {name: convert(item) for name, item in value.items()}
            else:
                out[key] = convert(value)
        return out

    return convert
