"""OIDC sign-in to the console against a tiny identity provider served over real HTTP on loopback: the
code flow with PKCE, the ID token checked (signature from the JWKS, issuer, audience, nonce), the role from
a claim, only known users by default; refusals that change nothing; the message when the extra is missing.
"""

import base64
import hashlib
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from fastapi import FastAPI, Form, Header, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from connector.api.app import create_app
from connector.console.users import add_user, disable_user, list_users
from connector.services.context import AppContext
from connector.settings import OidcSettings
from tests.api.conftest import with_sections
from tests.api.serving import served_in_thread

from .conftest import PASSWORD

CLIENT_ID, CLIENT_SECRET = "consent-sync-console", "idp-client-secret-0123456789"
OLA = "ola.nordmann@firma.no"
ROOT = "http://127.0.0.1"


@dataclass
class FakeProvider:
    """Who the provider signs in next (its claims), and what it hands out."""

    claims: dict[str, Any] = field(default_factory=dict)
    audience: str = CLIENT_ID
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}, private=True))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    root: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def metadata() -> dict[str, Any]:
            return {
                "issuer": self.root,
                "authorization_endpoint": f"{self.root}/authorize",
                "token_endpoint": f"{self.root}/token",
                "jwks_uri": f"{self.root}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            asked = request.query_params
            if asked.get("client_id") != CLIENT_ID or asked.get("code_challenge_method") != "S256":
                raise HTTPException(400, "bad request")
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": asked.get("nonce", ""),
                "challenge": asked.get("code_challenge", ""),
                "redirect_uri": asked.get("redirect_uri", ""),
            }
            query = urlencode({"code": code, "state": asked.get("state", "")})
            return RedirectResponse(f"{asked['redirect_uri']}?{query}", status_code=302)

        @app.post("/token")
        def token(
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(),
            authorization: str = Header(default=""),
        ) -> JSONResponse:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            granted = self.codes.pop(code, None)
            if authorization != f"Basic {expected}" or granted is None or grant_type != "authorization_code":
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != granted["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            if redirect_uri != granted["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            body = {"iss": self.root, "aud": self.audience, "iat": now, "exp": now + 300}
            body |= {"nonce": granted["nonce"], **self.claims}
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, body, self.key)
            return JSONResponse(
                {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
            )

        return app


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    with served_in_thread(fake.app()) as root:
        fake.root = root
        yield fake


def _ctx(console_ctx: AppContext, provider: FakeProvider, **oidc: Any) -> AppContext:
    section = {
        "issuer": provider.root,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "role_claim": "groups",
        "role_map": {"consent-marketing": "marketer", "consent-admins": "admin"},
        **oidc,
    }
    settings = OidcSettings.model_validate(section)  # validated: role names become roles
    return replace(console_ctx, settings=with_sections(console_ctx.settings, console={"oidc": settings}))


def _sso(client: TestClient) -> Any:
    """Start at the console, through the provider (real HTTP), back to the callback."""
    started = client.get("/console/login/oidc", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert "samesite=lax" in started.headers["set-cookie"].lower()
    answered = requests.get(started.headers["location"], allow_redirects=False, timeout=10)
    assert answered.status_code == 302
    back = answered.headers["location"]
    assert back.startswith(f"{ROOT}/console/login/oidc/callback?")
    return client.get(back.removeprefix(ROOT))


def _roles(ctx: AppContext) -> dict[str, str]:
    return {u.name: u.role.value for u in list_users(ctx)}


def test_a_known_user_signs_in_with_the_role_the_groups_claim_gives(
    console_ctx: AppContext, provider: FakeProvider
) -> None:
    ctx = _ctx(console_ctx, provider)
    add_user(ctx, OLA, "viewer", PASSWORD)
    provider.claims = {"email": OLA, "groups": ["everyone", "consent-marketing"]}
    with TestClient(create_app(ctx), base_url=ROOT) as client:
        login = client.get("/console/login?lang=en")
        assert 'href="/console/login/oidc"' in login.text
        assert "Sign in with your company account" in login.text
        signed = _sso(client)
        assert signed.status_code == 200
        assert '<meta http-equiv="refresh" content="0; url=/console">' in signed.text
        overview = client.get("/console")
        assert overview.status_code == 200
        assert f"{OLA} (marketer)" in overview.text
    assert _roles(ctx)[OLA] == "marketer"


def test_an_unknown_person_may_not_sign_in_unless_allowed_then_gets_the_default_role(
    console_ctx: AppContext, provider: FakeProvider
) -> None:
    provider.claims = {"email": "kari@firma.no", "groups": []}
    before = _roles(console_ctx)
    with TestClient(create_app(_ctx(console_ctx, provider)), base_url=ROOT) as client:
        refused = _sso(client)
        assert refused.status_code == 403
        assert "not a console user" in refused.text
        assert client.get("/console", follow_redirects=False).status_code == 303  # not signed in
    assert _roles(console_ctx) == before
    open_ctx = _ctx(console_ctx, provider, known_users_only=False, default_role="viewer")
    with TestClient(create_app(open_ctx), base_url=ROOT) as client:
        assert _sso(client).status_code == 200
        assert "kari@firma.no (viewer)" in client.get("/console").text
    assert _roles(console_ctx)["kari@firma.no"] == "viewer"


def test_a_token_for_another_client_a_wrong_state_and_a_disabled_user_are_refused(
    console_ctx: AppContext, provider: FakeProvider
) -> None:
    ctx = _ctx(console_ctx, provider)
    add_user(ctx, OLA, "viewer", PASSWORD)
    provider.claims = {"email": OLA, "groups": ["consent-admins"]}
    with TestClient(create_app(ctx), base_url=ROOT) as client:
        provider.audience = "some-other-client"
        try:
            wrong_audience = _sso(client)
        finally:
            provider.audience = CLIENT_ID
        assert wrong_audience.status_code == 401
        assert "ID token is not valid" in wrong_audience.text
        started = client.get("/console/login/oidc", follow_redirects=False)
        back = requests.get(started.headers["location"], allow_redirects=False, timeout=10).headers[
            "location"
        ]
        forged = back.removeprefix(ROOT).replace("state=", "state=x")
        assert client.get(forged).status_code == 401
        assert client.get("/console/login/oidc/callback?code=abc&state=def").status_code == 400  # no cookie
        disable_user(ctx, OLA)
        disabled = _sso(client)
        assert disabled.status_code == 403
        assert client.get("/console", follow_redirects=False).status_code == 303
    assert _roles(ctx)[OLA] == "viewer"  # no refusal changed the stored role


def test_without_the_extra_the_page_says_what_to_install(
    console_ctx: AppContext, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("authlib", "authlib.integrations", "authlib.integrations.requests_client", "joserfc"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of it now fails, as without the extra
    with TestClient(create_app(_ctx(console_ctx, provider)), base_url=ROOT) as client:
        login = client.get("/console/login")
        assert "pip install &#39;consent-sync[oidc]&#39;" in login.text
        assert 'href="/console/login/oidc"' not in login.text
        started = client.get("/console/login/oidc", follow_redirects=False)
        assert started.status_code == 503
        assert "optional extra is not installed" in started.text


def test_the_client_secret_is_refused_in_the_file_and_masked_when_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.errors import ConfigError
    from connector.settings import load_settings, masked

    config = tmp_path / "sso.toml"
    config.write_text(
        '[console.oidc]\nissuer = "https://login.firma.no"\nclient_id = "c"\n', encoding="utf-8"
    )
    monkeypatch.setenv("CONSENT_SYNC_CONSOLE__OIDC__CLIENT_SECRET", "from-the-environment")
    settings = load_settings(config)
    assert settings.console.oidc is not None
    assert settings.console.oidc.client_secret is not None
    assert "from-the-environment" not in str(masked(settings))
    config.write_text(
        config.read_text(encoding="utf-8") + 'client_secret = "in-the-file"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="CONSENT_SYNC_CONSOLE__OIDC__CLIENT_SECRET"):
        load_settings(config)
