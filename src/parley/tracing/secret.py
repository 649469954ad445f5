"""The tracing secret: the key that makes the codewords and the layout, plus the code plan.

It stays with the sending party (in its private events); without it nobody can tell which
carriers belong to which code position, nor compute anybody's codeword.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from parley.errors import InputError
from parley.tracing.code import CodeParams, plan_code

KEY_BYTES = 32
FORMAT = "parley-tracing-secret/1"


@dataclass(frozen=True)
class TracingSecret:
    """A 256-bit key and the code plan it was made for (JSON-serialisable)."""

    key: bytes = field(repr=False)
    params: CodeParams

    @classmethod
    def generate(cls, n_recipients: int, epsilon: float = 1e-6, max_colluders: int = 3) -> TracingSecret:
        """A fresh random key for a code planned by ``plan_code``.

        Raises InputError on bad parameters (see ``plan_code``).
        """
        return cls(secrets.token_bytes(KEY_BYTES), plan_code(n_recipients, epsilon, max_colluders))

    @classmethod
    def from_seed(
        cls, seed: bytes, n_recipients: int, epsilon: float = 1e-6, max_colluders: int = 3
    ) -> TracingSecret:
        """A deterministic secret, for tests and simulations only.

        Raises InputError if seed is not 32 bytes or on bad parameters.
        """
        if not isinstance(seed, bytes) or len(seed) != KEY_BYTES:
            raise InputError(f"the seed must be {KEY_BYTES} bytes")
        return cls(seed, plan_code(n_recipients, epsilon, max_colluders))

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "key": base64.b64encode(self.key).decode("ascii"),
                "n_recipients": self.params.n_recipients,
                "epsilon": self.params.epsilon,
                "max_colluders": self.params.max_colluders,
                # stored, not recomputed: a later change of the length formula must not
                # change the code of documents already sent
                "code_length": self.params.length,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> TracingSecret:
        """Parse ``to_json`` output.

        Raises InputError if the data is not a well-formed tracing secret.
        """
        try:
            obj = json.loads(data) if isinstance(data, str) else data
        except json.JSONDecodeError as err:
            raise InputError(f"tracing secret is not JSON: {err}") from err
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} object")
        try:
            key = base64.b64decode(obj["key"], validate=True)
            plan = plan_code(obj["n_recipients"], obj["epsilon"], obj["max_colluders"])
            length = obj["code_length"]
        except (KeyError, TypeError, binascii.Error) as err:
            raise InputError(f"malformed tracing secret: {err}") from err
        if len(key) != KEY_BYTES:
            raise InputError(f"tracing key must be {KEY_BYTES} bytes")
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 10**7:
            raise InputError("malformed tracing secret: bad code_length")
        if not math.isfinite(plan.epsilon):
            raise InputError("malformed tracing secret: bad epsilon")
        return cls(key, CodeParams(plan.n_recipients, plan.epsilon, plan.max_colluders, length))
