"""OpenID Connect sign-in to the console (``[console.oidc]``, the optional ``oidc`` extra: Authlib).

The authorization code flow with PKCE: :func:`begin` gives the provider's authorization URL and what must
come back (state, nonce, code verifier: kept in a short-lived signed cookie by the page); :func:`finish`
exchanges the code with Authlib's client, then checks the ID token: its signature against the provider's
published keys (JWKS), its issuer, audience, expiry and nonce (joserfc, Authlib's JOSE library). The
claims then name the user and, through ``role_map``, the role (:func:`user_and_role`).
"""

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import requests

from connector.core.console_roles import Role
from connector.settings import OidcSettings

EXTRA_MISSING = (
    "Single sign-on is configured ([console.oidc]) but its optional extra is not installed: "
    "pip install 'consent-sync[oidc]' (Authlib). Sign in with a user name and password meanwhile."
)
TIMEOUT_SECONDS = 10
ALGORITHMS = ["RS256", "PS256", "ES256"]
_PRECEDENCE = (Role.ADMIN, Role.PRIVACY, Role.MARKETER, Role.VIEWER)


class OidcError(Exception):
    """The sign-in cannot complete: the message says why, in words for the person signing in."""


def available() -> bool:
    """Whether the ``oidc`` extra (Authlib, joserfc) is installed."""
    try:
        import authlib.integrations.requests_client  # noqa: F401
        import joserfc  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Pending:
    """What the provider's answer must match: kept by the browser in a signed cookie meanwhile."""

    state: str
    nonce: str
    verifier: str

    def document(self) -> dict[str, str]:
        return {"s": self.state, "n": self.nonce, "v": self.verifier}

    @classmethod
    def of(cls, data: object) -> "Pending | None":
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "snv"):
            return None
        return cls(data["s"], data["n"], data["v"])


@dataclass(frozen=True, slots=True)
class _Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def begin(settings: OidcSettings, redirect_url: str) -> tuple[str, Pending]:
    """The provider's authorization URL for a new sign-in, and what its answer must match."""
    from authlib.integrations.requests_client import OAuth2Session

    provider = _provider(settings)
    pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
    with OAuth2Session(
        settings.client_id, scope=settings.scopes, redirect_uri=redirect_url, code_challenge_method="S256"
    ) as client:
        url, _state = client.create_authorization_url(
            provider.authorization_endpoint,
            state=pending.state,
            nonce=pending.nonce,
            code_verifier=pending.verifier,
        )
    return str(url), pending


def finish(
    settings: OidcSettings, redirect_url: str, pending: Pending, code: str, state: str
) -> dict[str, Any]:
    """The verified claims of the ID token the provider gives for ``code``; ``OidcError`` otherwise."""
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not state or not hmac.compare_digest(state, pending.state):
        raise OidcError("the answer of the identity provider does not belong to this sign-in; try again")
    provider = _provider(settings)
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    try:
        with OAuth2Session(settings.client_id, secret, redirect_uri=redirect_url) as client:
            token = client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=pending.verifier, timeout=TIMEOUT_SECONDS
            )
    except (OAuthError, requests.RequestException, ValueError) as exc:
        raise OidcError(f"the identity provider did not accept the sign-in ({type(exc).__name__})") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise OidcError("the identity provider sent no ID token")
    try:
        keys = KeySet.import_key_set(_json(provider.jwks_uri))  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.client_id},
            nonce={"essential": True, "value": pending.nonce},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, KeyError) as exc:
        raise OidcError(f"the ID token is not valid for this service ({type(exc).__name__})") from None
    return dict(decoded.claims)


def user_and_role(settings: OidcSettings, claims: dict[str, Any]) -> tuple[str, Role | None]:
    """The console user the claims name, and the role ``role_map`` gives them (``None``: none matched)."""
    name = claims.get(settings.username_claim)
    if not isinstance(name, str) or not name.strip():
        raise OidcError(f"the identity provider did not say who you are (claim {settings.username_claim!r})")
    found = claims.get(settings.role_claim) if settings.role_claim else None
    values = [found] if isinstance(found, str) else [v for v in found or () if isinstance(v, str)]
    roles = {settings.role_map[v] for v in values if v in settings.role_map}
    role = next((r for r in _PRECEDENCE if r in roles), None)
    return name.strip(), role


def _provider(settings: OidcSettings) -> _Provider:
    url = settings.metadata_url or settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _json(url)
    try:
        return _Provider(
            str(document["authorization_endpoint"]),
            str(document["token_endpoint"]),
            str(document["jwks_uri"]),
        )
    except KeyError as exc:
        raise OidcError(f"the identity provider's metadata lacks {exc.args[0]}") from None


def _json(url: str) -> dict[str, Any]:
    try:
        answer = requests.get(url, timeout=TIMEOUT_SECONDS)
        answer.raise_for_status()
        document = answer.json()
    except (requests.RequestException, ValueError):
        raise OidcError("the identity provider cannot be reached; try again later") from None
    if not isinstance(document, dict):
        raise OidcError("the identity provider answered something unexpected")
    return document
