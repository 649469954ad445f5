"""The one error tree of parley.

Every error carries a human message. The CLI maps the family to an exit code in
one place (``parley.cli.main``); the relay maps it to an HTTP status in one place
(``parley.relay.app``).

    ParleyError                      base; exit 1
    +-- InputError                   bad user or API input; exit 2, HTTP 400
    |   +-- LimitError               over a configured limit; HTTP 413
    +-- ConfigError                  bad settings or profile; exit 2
    +-- NotFoundError                unknown id; exit 3, HTTP 404
    +-- ConflictError                already exists / wrong state; exit 2, HTTP 409
    |   +-- BusyError                the profile is in use by another parley process
    +-- AuthError                    request authentication failed; HTTP 401
    |   +-- ReplayError              a request seen before
    +-- ForbiddenError               authenticated but not allowed; exit 4, HTTP 403
    +-- RateLimitError               too many requests; HTTP 429
    +-- VerificationError            bad or malicious data; exit 4, HTTP 422
    |   +-- SignatureError           a signature did not verify
    |   +-- ProofError               a Merkle proof did not verify
    |   +-- ConsistencyError         the log is not an extension of what we saw
    |   |   +-- RollbackError        the relay went back in time
    |   |   +-- ForkError            the relay showed a different history
    |   +-- TrustError               key or certificate does not chain to a pinned root
    |   +-- ProtocolError            an event breaks a protocol rule
    |   +-- NotWitnessedError        a checkpoint lacks the parties' cosignatures a policy requires
    +-- KeystoreError                keystore unreadable; exit 5
    |   +-- BadPassphraseError
    +-- StorageError                 database failure; exit 6, HTTP 503
    +-- TransportError               network failure talking to the relay; exit 7
    |   +-- RelayError               the relay answered with an error
    +-- RelayRefusal                 the relay's own checks refused what this client sent; exit 8
"""

from __future__ import annotations


class ParleyError(Exception):
    """Base of every parley error: ``str(err)`` is a message fit for a human."""

    exit_code = 1
    http_status = 500
    #: short machine-readable name sent by the relay in error bodies
    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """The message plus the hint, for a terminal."""
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class InputError(ParleyError):
    exit_code = 2
    http_status = 400
    code = "bad_input"


class LimitError(InputError):
    http_status = 413
    code = "over_limit"


class ConfigError(ParleyError):
    exit_code = 2
    http_status = 500
    code = "config"


class NotFoundError(ParleyError):
    exit_code = 3
    http_status = 404
    code = "not_found"


class ConflictError(ParleyError):
    exit_code = 2
    http_status = 409
    code = "conflict"


class BusyError(ConflictError):
    """Another process holds this profile's lock for longer than the wait allows."""

    code = "busy"


class AuthError(ParleyError):
    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class ReplayError(AuthError):
    code = "replayed_request"


class ForbiddenError(ParleyError):
    exit_code = 4
    http_status = 403
    code = "forbidden"


class RateLimitError(ParleyError):
    exit_code = 7
    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class VerificationError(ParleyError):
    exit_code = 4
    http_status = 422
    code = "verification_failed"


class SignatureError(VerificationError):
    code = "bad_signature"


class ProofError(VerificationError):
    code = "bad_proof"


class ConsistencyError(VerificationError):
    code = "inconsistent_log"


class RollbackError(ConsistencyError):
    code = "rollback"


class ForkError(ConsistencyError):
    code = "fork"


class TrustError(VerificationError):
    code = "untrusted"


class ProtocolError(VerificationError):
    code = "protocol_violation"


class NotWitnessedError(VerificationError):
    code = "not_witnessed"


class KeystoreError(ParleyError):
    exit_code = 5
    code = "keystore"


class BadPassphraseError(KeystoreError):
    code = "bad_passphrase"


class StorageError(ParleyError):
    exit_code = 6
    http_status = 503
    code = "storage"


class TransportError(ParleyError):
    exit_code = 7
    http_status = 502
    code = "transport"


class RelayError(TransportError):
    """The relay answered with an error; ``status`` and ``code`` are the relay's."""

    def __init__(self, message: str, *, status: int, code: str = "error", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class RelayRefusal(ParleyError):
    """The relay refused a request because its own check of the data failed (a signature, a proof, a rule of
    the protocol, a fork of its log): a statement by the relay about what this client sent, never a
    detection by this client of what the relay served (those are ``VerificationError``).
    ``relay_code`` and ``status`` are the relay's."""

    exit_code = 8
    http_status = 502
    code = "relay_refusal"

    def __init__(self, message: str, *, status: int, relay_code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.relay_code = relay_code


#: relay error codes mapped back to local classes on the client side
ERRORS_BY_CODE: dict[str, type[ParleyError]] = {
    cls.code: cls
    for cls in (
        InputError, LimitError, NotFoundError, ConflictError, AuthError, ReplayError, ForbiddenError,
        RateLimitError, VerificationError, SignatureError, ProofError, ConsistencyError, RollbackError,
        ForkError, TrustError, ProtocolError, StorageError,
    )
}
