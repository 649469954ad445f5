"""The UI's security model, over real sockets: loopback only, token to cookie, CSRF on every POST, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from parley.ui.security import COOKIE


@contextmanager
def _signed_in(server) -> Iterator[httpx.Client]:  # noqa: ANN001
    with httpx.Client(base_url=server.base, follow_redirects=False, timeout=10) as client:
        response = client.get(server.login_url())
        assert response.status_code == 200 and "url=/" in response.text and COOKIE in response.headers["set-cookie"]
        yield client


def test_binds_loopback_only(talks):
    server = talks.ui["ukraine"]
    assert server.base.startswith("http://127.0.0.1:")
    assert server.server.config.host == "127.0.0.1"


def test_token_is_exchanged_for_a_strict_httponly_cookie(talks):
    server = talks.ui["ukraine"]
    with httpx.Client(base_url=server.base, timeout=10) as anonymous:
        assert anonymous.get("/").status_code == 401
        assert anonymous.get(f"/n/{talks.nid}").status_code == 401
        assert anonymous.get("/login", params={"token": "wrong"}).status_code == 403
    with _signed_in(server) as client:
        login_url = server.login_url()
        cookie = client.get(login_url).headers["set-cookie"]
        assert cookie.startswith(COOKIE + "=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        page = client.get("/")
        assert page.status_code == 200
        assert talks.nid in page.text
        assert login_url.split("token=")[1] not in page.text  # the token never appears in pages


def test_every_post_needs_the_csrf_token(talks):
    server = talks.ui["ukraine"]
    with _signed_in(server) as client:
        page = client.get(f"/n/{talks.nid}/memoranda").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        url = f"/n/{talks.nid}/issues"
        assert client.post(url, data={"title": "Forged"}).status_code == 403
        assert client.post(url, data={"title": "Forged", "csrf": "x" * len(csrf)}).status_code == 403
        evil = client.post(url, data={"title": "Cross-site", "csrf": csrf}, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        # a token from another session is refused too
        with _signed_in(server) as other:
            assert other.post(url, data={"title": "Other session", "csrf": csrf}).status_code == 403
        issues = client.get(f"/n/{talks.nid}/memoranda").text
        assert "Forged" not in issues and "Cross-site" not in issues and "Other session" not in issues


def test_foreign_host_header_is_refused(talks):
    server = talks.ui["ukraine"]
    with _signed_in(server) as client:
        response = client.get("/", headers={"Host": "attacker.example"})
        assert response.status_code == 400


def test_security_headers(talks):
    server = talks.ui["ukraine"]
    with _signed_in(server) as client:
        headers = client.get("/").headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "same-origin"


def test_pages_render_without_a_browser(talks):
    server = talks.ui["russia"]
    with _signed_in(server) as client:
        for path in ("", "/memoranda", "/meetings", "/channels", "/agreement", "/audit", "/trust"):
            response = client.get(f"/n/{talks.nid}{path}")
            assert response.status_code == 200, (path, response.text[:500])
        qr = client.get(f"/qr/{talks.ukraine.profile.party.party_id}.svg")
        assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
        assert client.get("/n/n-unknown000000").status_code == 404
