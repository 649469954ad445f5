"""Crypto recipes: the only place in parley that touches keys.

Recipes with no choices to make, built on well-kept libraries:

- ``keys``: Ed25519 signing keys and age X25519 identities, key ids.
- ``canonical``: RFC 8785 canonical JSON bytes, and Ed25519 signatures over them.
- ``seal``: age encryption to one or many X25519 recipients (pyrage).
- ``fingerprint``: key fingerprints as groups of digits for out-of-band checks.
- ``keystore``: passphrase-protected secrets (an age passphrase file).
- ``sshsig``: SSHSIG signatures verifiable with ``ssh-keygen -Y verify``.
- ``httpsig``: RFC 9421 HTTP message signatures for relay requests.
"""
