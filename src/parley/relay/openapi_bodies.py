"""The encrypted bodies in the relay's OpenAPI description: what a member's client finds once it opens a ciphertext.

The relay never reads these: it stores ciphertexts. They are described so that a client generated from
``/openapi.json`` gets the types of what it decrypts along with those of the relay's answers. The schemas come
from ``parley.protocol.bodies.body_schemas()`` (the ``msgspec`` declarations every parley client checks bodies
against) when the description is first built, so there is no second copy to keep in step:

- ``components.schemas.Body<Kind>`` (``BodyMemorandumDeliver`` for ``memorandum.deliver``): the plaintext of a
  ciphertext of that event type, ``{"type", "content", "binding"}`` (docs/interop.md);
- ``components.schemas.Content<Name>``: the declared content types (``ContentMemorandum``), referred to by the
  above;
- ``components.schemas.EncryptedBody``: any of them, a ``oneOf`` discriminated by ``type``.
"""

from __future__ import annotations

import re
from typing import Any

from parley.errors import ConfigError

ENCRYPTED_BODY = "EncryptedBody"
_CONTENT_PREFIX = "Content"
_BODY_PREFIX = "Body"
#: Python's end of string; JSON Schema patterns are ECMA-262, where ``\Z`` is a plain "Z" and ``$`` (without the
#: multiline flag) is the end of the input
_PYTHON_END = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")

_DESCRIPTION = ("The decrypted content of one ciphertext of an encrypted event (RFC 8785 canonical JSON): its "
                "event type, its content and the binding to the event's header. The relay never reads it; "
                "every parley client refuses a body that does not match its type's schema. Rules across events "
                "(a response to a known memorandum, head authority, deadlines) are not in the schema.")


def body_component_name(event_type: str) -> str:
    """``memorandum.deliver`` -> ``BodyMemorandumDeliver``."""
    return _BODY_PREFIX + "".join(part[:1].upper() + part[1:] for part in re.split(r"[._-]", event_type) if part)


def add_body_components(document: dict[str, Any]) -> None:
    """Add the body schemas to an OpenAPI ``document`` (in place).

    Raises:
        ConfigError: a body schema's name is already a component of the document (two declarations would
            share one name).
    """
    # Imported here, not at the top: the relay's own requests never need the body declarations, and loading
    # them would lengthen every relay process's start for a document few ask for.
    from parley.protocol.bodies import body_schemas

    declared = body_schemas()
    components = document.setdefault("components", {}).setdefault("schemas", {})
    added: dict[str, Any] = {}
    for name, schema in declared["$defs"].items():
        added[_CONTENT_PREFIX + name] = _for_openapi(schema)
    mapping = {}
    for event_type, content in sorted(declared["types"].items()):
        name = body_component_name(event_type)
        mapping[event_type] = f"#/components/schemas/{name}"
        added[name] = {
            "title": name, "type": "object", "required": ["type", "content", "binding"],
            "description": f"The decrypted body of a `{event_type}` event.",
            "properties": {
                "type": {"const": event_type},
                "content": _for_openapi(content),
                "binding": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                            "description": "SHA-256 (hex) of the canonical header without its ciphertexts"}}}
    added[ENCRYPTED_BODY] = {"title": ENCRYPTED_BODY, "description": _DESCRIPTION,
                             "oneOf": [{"$ref": ref} for ref in mapping.values()],
                             "discriminator": {"propertyName": "type", "mapping": mapping}}
    taken = sorted(set(added) & set(components))
    if taken:
        raise ConfigError(f"the OpenAPI description already has components named {', '.join(taken)}")
    components.update(added)


def _for_openapi(schema: Any) -> Any:
    """A copy of a ``body_schemas()`` schema whose references point into ``components`` and whose patterns
    read the same in ECMA-262 as in Python."""
    if isinstance(schema, list):
        return [_for_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            out[key] = "#/components/schemas/" + _CONTENT_PREFIX + value.removeprefix("#/$defs/")
        elif key == "pattern" and isinstance(value, str):
            out[key] = _PYTHON_END.sub(r"\1$", value)
        elif key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _for_openapi(item) for name, item in value.items()}
        else:
            out[key] = _for_openapi(value)
    return out
