"""The relay connection's TLS: skipped only where there is no TLS to check."""

from __future__ import annotations

import ssl

import pytest

from parley.client.transport import RelayConnection


def _tls_context(connection: RelayConnection) -> ssl.SSLContext:
    return connection.http._transport._pool._ssl_context  # httpx keeps it on its connection pool


def test_https_relay_is_reached_only_through_a_checked_certificate():
    """A man in the middle of an https relay is refused: skipping the CA bundle for plain-HTTP relays
    (a read command's largest cost) must never turn certificate checks off for https ones."""
    connection = RelayConnection("https://relay.example.org", None)
    try:
        context = _tls_context(connection)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0
    finally:
        connection.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8443", "HTTP://relay.local"])
def test_plain_http_relay_loads_no_certificate_authorities(url: str):
    connection = RelayConnection(url, None)
    try:
        assert _tls_context(connection).cert_store_stats()["x509_ca"] == 0
    finally:
        connection.close()
