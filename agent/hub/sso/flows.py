"""The OAuth exchanges with a provider: authorization URL, code and device-code grants."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from modelfleet.agent.hub.db.security_models import SsoProviderRow
from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.sso.http import IdpError, IdpHttp
from modelfleet.agent.hub.sso.oidc import ProviderMetadata

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def check_redirect_uri(value: str) -> str:
    """A native app's loopback redirect (RFC 8252 section 7.3): http, loopback host, a port."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username
        or parts.fragment
        or len(value) > 512
    ):
        raise InvalidArgument(
            "redirect_uri", "a loopback redirect like http://127.0.0.1:PORT/callback"
        )
    return value


def check_challenge(challenge: str, method: str) -> str:
    if method != "S256":
        raise InvalidArgument("code_challenge_method", "S256", repr(method[:16]))
    if len(challenge) != 43 or not _is_base64url(challenge):
        raise InvalidArgument("code_challenge", "BASE64URL(SHA-256(verifier)): 43 characters")
    return challenge


def verifier_matches(verifier: str, challenge: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected, challenge)


def authorization_url(
    meta: ProviderMetadata,
    provider: SsoProviderRow,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    challenge: str,
) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in meta.authorization_endpoint else "?"
    return f"{meta.authorization_endpoint}{separator}{query}"


class ProviderClient:
    """One provider's token and device endpoints, authenticated as the hub's client."""

    def __init__(
        self, http: IdpHttp, meta: ProviderMetadata, provider: SsoProviderRow, secret: str
    ) -> None:
        self._http = http
        self._meta = meta
        self._client_id = provider.client_id
        self._scopes = provider.scopes
        self._secret = secret

    async def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return _id_token(await self._token(form))

    async def start_device(self) -> dict[str, Any]:
        endpoint = self._meta.device_authorization_endpoint
        if not endpoint:
            raise IdpError("this provider does not offer the device flow")
        form, auth = self._authenticated({"scope": self._scopes})
        doc = await self._http.post_form(
            endpoint, form, what="device authorization", basic_auth=auth
        )
        for name in ("device_code", "user_code", "verification_uri"):
            if not isinstance(doc.get(name), str):
                raise IdpError(f"device authorization: the answer has no {name}")
        return doc

    async def poll_device(self, device_code: str) -> str:
        """The ID token once approved; IdpRefused(authorization_pending...) until then."""
        return _id_token(
            await self._token({"grant_type": DEVICE_GRANT, "device_code": device_code})
        )

    async def _token(self, fields: dict[str, str]) -> dict[str, Any]:
        form, auth = self._authenticated(fields)
        return await self._http.post_form(
            self._meta.token_endpoint, form, what="token exchange", basic_auth=auth
        )

    def _authenticated(
        self, fields: dict[str, str]
    ) -> tuple[dict[str, str], tuple[str, str] | None]:
        form = dict(fields)
        if not self._secret:
            form["client_id"] = self._client_id
            return form, None
        if "client_secret_basic" in self._meta.token_auth_methods:
            # RFC 6749 2.3.1: both halves form-encoded before the Basic encoding.
            return form, (quote(self._client_id, safe=""), quote(self._secret, safe=""))
        form.update(client_id=self._client_id, client_secret=self._secret)
        return form, None


def _id_token(doc: dict[str, Any]) -> str:
    token = doc.get("id_token")
    if not isinstance(token, str) or not token:
        raise IdpError("token exchange: the answer has no id_token (is 'openid' in the scopes?)")
    return token


def _is_base64url(text: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in text)
