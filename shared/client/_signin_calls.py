"""The sign-in security half of `HubClient`: SSO (loopback + PKCE, device flow), TOTP MFA,
SSO provider administration and IP allow-lists."""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from modelfleet.client._calls import Caller, Scope
from modelfleet.client._convert import token_pair_from_pb
from modelfleet.client._errors import AuthenticationError
from modelfleet.client._types import TokenPair
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

AUDIENCES = {
    "people": auth_pb2.NETWORK_AUDIENCE_PEOPLE,
    "api-keys": auth_pb2.NETWORK_AUDIENCE_API_KEYS,
    "agents": auth_pb2.NETWORK_AUDIENCE_AGENTS,
}
_AUDIENCE_NAMES = {number: name for name, number in AUDIENCES.items()}


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    device_login_id: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    interval: int


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    otpauth_uri: str
    secret: str


@dataclass(frozen=True, slots=True)
class AllowedNetwork:
    id: str
    audience: str
    cidr: str
    note: str
    created_by: str


class SignInCalls:
    """Mixed into `HubClient` (uses its `_caller`)."""

    _caller: Caller

    def _signin_call(self, service: str, rpc: str, request: Any, **kw: Any) -> Any:
        stub: Any = getattr(auth_pb2_grpc, f"{service}Stub")(self._caller.channel)
        return self._caller.unary(f"{service}.{rpc}", getattr(stub, rpc), request, **kw)

    # --- SSO --------------------------------------------------------------------------------

    def list_sso_providers(self) -> list[tuple[str, str]]:
        """(name, display name) of the providers people can sign in with."""
        msg = self._signin_call(
            "Sso", "ListSsoProviders", auth_pb2.ListSsoProvidersRequest(),
            idempotent=True, authenticated=False,
        )  # fmt: skip
        return [(p.name, p.display_name) for p in msg.providers]

    def login_sso(
        self,
        provider: str,
        *,
        open_browser: Callable[[str], bool] = webbrowser.open,
        timeout: float = 300.0,
        on_abort: Callable[[Callable[[], None]], object] | None = None,
    ) -> TokenPair:
        """Sign in through the system browser: a one-shot loopback redirect on 127.0.0.1 with
        an OS-chosen port (RFC 8252), PKCE S256, the state checked on the way back.

        `on_abort(abort)` receives a function that stops the wait from any thread (a GUI's
        cancel button): the call then raises `AuthenticationError` without completing.
        """
        verifier = secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        receiver = _LoopbackReceiver()
        if on_abort is not None:
            on_abort(receiver.abort)
        try:
            redirect_uri = f"http://127.0.0.1:{receiver.port}/callback"
            started = self._signin_call(
                "Sso", "StartSsoLogin",
                auth_pb2.StartSsoLoginRequest(
                    provider=provider, redirect_uri=redirect_uri,
                    code_challenge=challenge.rstrip(b"=").decode(), code_challenge_method="S256",
                ),
                idempotent=False, authenticated=False,
            )  # fmt: skip
            if not open_browser(started.authorization_url):
                print(f"Open this address in a browser to sign in:\n  {started.authorization_url}")
            query = receiver.wait(timeout)
        finally:
            receiver.close()
        if query.get("state") != started.state:
            raise AuthenticationError("SSO sign-in: the redirect's state does not match; try again")
        if "code" not in query:
            reason = query.get("error_description") or query.get("error") or "no code"
            raise AuthenticationError(f"SSO sign-in refused by the identity provider: {reason}")
        msg = self._signin_call(
            "Sso", "CompleteSsoLogin",
            auth_pb2.CompleteSsoLoginRequest(
                state=started.state, code=query["code"], code_verifier=verifier,
                redirect_uri=redirect_uri,
            ),
            idempotent=False, authenticated=False,
        )  # fmt: skip
        return self._adopt(msg)

    def start_device_login(self, provider: str) -> DeviceLogin:
        msg = self._signin_call(
            "Sso", "StartDeviceLogin", auth_pb2.StartDeviceLoginRequest(provider=provider),
            idempotent=False, authenticated=False,
        )  # fmt: skip
        return DeviceLogin(
            msg.device_login_id, msg.user_code, msg.verification_uri,
            msg.verification_uri_complete, msg.interval_seconds,
        )  # fmt: skip

    def finish_device_login(self, login: DeviceLogin, *, timeout: float = 600.0) -> TokenPair:
        """Poll (RFC 8628) until the sign-in is approved in a browser, then adopt the tokens."""
        interval = max(1, login.interval)
        deadline = time.monotonic() + timeout
        request = auth_pb2.PollDeviceLoginRequest(device_login_id=login.device_login_id)
        while time.monotonic() < deadline:
            time.sleep(interval)
            msg = self._signin_call(
                "Sso", "PollDeviceLogin", request, idempotent=False, authenticated=False
            )
            if msg.status == auth_pb2.DEVICE_LOGIN_COMPLETE:
                return self._adopt(msg.tokens)
            interval = max(interval, msg.interval_seconds)
        raise AuthenticationError("device sign-in: not approved in time; start again")

    def _adopt(self, msg: auth_pb2.TokenPair) -> TokenPair:
        pair = token_pair_from_pb(msg)
        self._caller.adopt(pair)
        return pair

    def add_sso_provider(
        self,
        name: str,
        client_id: str,
        *,
        issuer: str = "",
        preset: str = "",
        tenant: str = "",
        client_secret: str = "",
        allowed_domains: Sequence[str] = (),
        jit_user_creation: bool = False,
        display_name: str = "",
    ) -> str:
        spec = auth_pb2.SsoProviderSpec(
            name=name, display_name=display_name, preset=preset, issuer=issuer, tenant=tenant,
            client_id=client_id, allowed_domains=list(allowed_domains),
            jit_user_creation=jit_user_creation,
        )  # fmt: skip
        msg = self._signin_call(
            "Sso", "CreateSsoProvider",
            auth_pb2.CreateSsoProviderRequest(spec=spec, client_secret=client_secret),
            idempotent=False,
        )  # fmt: skip
        return str(msg.spec.issuer)

    def remove_sso_provider(self, name: str) -> None:
        self._signin_call(
            "Sso", "DeleteSsoProvider", auth_pb2.DeleteSsoProviderRequest(provider=name),
            idempotent=False,
        )  # fmt: skip

    # --- MFA --------------------------------------------------------------------------------

    def enroll_totp(self) -> TotpEnrolment:
        msg = self._signin_call("Mfa", "EnrollTotp", auth_pb2.EnrollTotpRequest(), idempotent=False)
        return TotpEnrolment(msg.otpauth_uri, msg.secret)

    def confirm_totp(self, code: str) -> list[str]:
        """Turn TOTP on; the recovery codes are returned once."""
        request = auth_pb2.ConfirmTotpRequest(code=code)
        return list(self._signin_call("Mfa", "ConfirmTotp", request, idempotent=False).codes)

    def disable_totp(self, code: str) -> None:
        request = auth_pb2.DisableTotpRequest(code=code)
        self._signin_call("Mfa", "DisableTotp", request, idempotent=False)

    def regenerate_recovery_codes(self, code: str) -> list[str]:
        request = auth_pb2.RegenerateRecoveryCodesRequest(code=code)
        return list(
            self._signin_call("Mfa", "RegenerateRecoveryCodes", request, idempotent=False).codes
        )

    # --- IP allow-lists ---------------------------------------------------------------------

    def allow_network(
        self, audience: str, cidr: str, note: str = "", *, workspace: str | None = None
    ) -> AllowedNetwork:
        """`audience`: people / api-keys (in a workspace) or agents (hub-wide: no workspace)."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience: expected one of {', '.join(AUDIENCES)}")
        request = auth_pb2.AddAllowedNetworkRequest(
            audience=AUDIENCES[audience], cidr=cidr, note=note
        )
        msg = self._signin_call(
            "NetworkPolicy", "AddAllowedNetwork", request, idempotent=False,
            scope=_scope(audience), workspace=workspace,
        )  # fmt: skip
        return _network(msg)

    def list_allowed_networks(
        self, audience: str, *, workspace: str | None = None
    ) -> list[AllowedNetwork]:
        request = auth_pb2.ListAllowedNetworksRequest(audience=AUDIENCES[audience])
        msg = self._signin_call(
            "NetworkPolicy", "ListAllowedNetworks", request, idempotent=True,
            scope=_scope(audience), workspace=workspace,
        )  # fmt: skip
        return [_network(n) for n in msg.networks]

    def remove_allowed_network(
        self, entry_id: str, *, agents: bool = False, workspace: str | None = None
    ) -> None:
        request = auth_pb2.RemoveAllowedNetworkRequest(id=entry_id)
        self._signin_call(
            "NetworkPolicy", "RemoveAllowedNetwork", request, idempotent=False,
            scope=_scope("agents" if agents else "people"), workspace=workspace,
        )  # fmt: skip


def _scope(audience: str) -> Scope:
    return Scope.NONE if audience == "agents" else Scope.REQUIRED


def _network(msg: auth_pb2.AllowedNetwork) -> AllowedNetwork:
    return AllowedNetwork(
        msg.id, _AUDIENCE_NAMES.get(msg.audience, "?"), msg.cidr, msg.note, msg.created_by
    )


class _LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 (OS-chosen port) for the browser's redirect."""

    def __init__(self) -> None:
        received: dict[str, str] = {}
        done = threading.Event()

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                # Only the redirect URI's own host: a page that rebinds its name to
                # 127.0.0.1 cannot end the sign-in with a request of its own.
                if self.headers.get("Host", "") != f"127.0.0.1:{receiver.port}":
                    self.send_error(421, "Misdirected Request")
                    return
                parts = urlsplit(self.path)
                if parts.path != "/callback" or done.is_set():
                    self.send_error(404)
                    return
                received.update({k: v[0] for k, v in parse_qs(parts.query).items()})
                done.set()
                body = "<p>Signed in to modelfleet. You can close this window.</p>"
                if "code" not in received:
                    body = f"<p>Sign-in failed: {html.escape(received.get('error', ''))}</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                return  # the query holds the code: never logged

        self._server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._received = received
        self._done = done
        self._aborted = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> dict[str, str]:
        if not self._done.wait(timeout):
            raise AuthenticationError("SSO sign-in: no answer from the browser in time")
        if self._aborted:
            raise AuthenticationError("SSO sign-in cancelled")
        return dict(self._received)

    def abort(self) -> None:
        """End `wait` now (from any thread); a redirect arriving later gets a 404."""
        self._aborted = True
        self._done.set()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
