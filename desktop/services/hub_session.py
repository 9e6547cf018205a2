"""Signing in to a hub from the desktop: connection profiles, first-connect trust, tokens.

Trust reuses the client library: a first connection reads the certificates the hub
presents (unverified), shows the CA's fingerprint to the person, and only once they accept
it is the fingerprint pinned in the profile; every later connection goes through
`HubClient.connect`, whose pin check refuses a hub presenting any other CA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from modelfleet.client import (
    AuthenticationError,
    ClientSettings,
    CredentialStore,
    HubClient,
    HubTrustError,
    Principal,
    Profile,
    StoredTokens,
    TokenPair,
    account_name,
    load_profile,
    save_profile,
)
from modelfleet.client._trust import fingerprint_der, presented_chain
from modelfleet.paths import user_data_dir

DEFAULT_TIMEOUT_S = 10.0
# How long a single sign-on waits for the browser to come back to the loopback redirect.
SSO_TIMEOUT_S = 300.0
# The hub words a missing or wrong second factor at sign-in as "totp_code: <why>".
_SECOND_FACTOR_PREFIX = "totp_code:"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SecondFactorNeeded(AuthenticationError):
    """The password was right but the account has two-step sign-in: a code is needed.

    `asked` is True when no code was sent (the first prompt), False when it was wrong.
    """

    def __init__(self, message: str, *, asked: bool) -> None:
        super().__init__(message)
        self.asked = asked


@dataclass(frozen=True)
class HubCertificate:
    """The CA certificate a hub presented on a first, not yet trusted, connection."""

    address: str
    fingerprint: str
    subject: str
    not_after: datetime


def probe_hub_ca(address: str, timeout: float = DEFAULT_TIMEOUT_S) -> HubCertificate:
    """The CA certificate in the hub's TLS handshake (not trusted: the person decides)."""
    for der in reversed(presented_chain(address, timeout)):
        cert = x509.load_der_x509_certificate(der)
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if is_ca:
            return HubCertificate(
                address,
                fingerprint_der(der),
                cert.subject.rfc4514_string(),
                cert.not_valid_after_utc,
            )
    raise HubTrustError(f"the hub at {address} presented no CA certificate to pin")


def check_profile_name(name: str) -> str:
    """`name` stripped, or ValueError naming the field and what it may contain."""
    text = name.strip()
    if not _PROFILE_NAME.match(text):
        raise ValueError(
            "Profile name: expected 1-64 letters, digits, '.', '_' or '-' "
            f"(starting with a letter or digit), got {name!r}"
        )
    return text


def check_hub_address(address: str) -> str:
    """`host:port` with a port in 1..65535, else ValueError naming the field."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"Hub address: expected host:port (e.g. hub.example.com:7443), got {address!r}"
        )
    return f"{host}:{port}"


class ProfileBook:
    """Connection profiles, one private file each, plus the name of the last one used."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or user_data_dir() / "desktop" / "profiles"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def load(self, name: str) -> Profile:
        return load_profile(self._path(name))

    def save(self, name: str, profile: Profile) -> None:
        save_profile(profile, self._path(name))
        last = self.folder / "last"
        last.write_text(check_profile_name(name) + "\n", encoding="utf-8")

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def last(self) -> str | None:
        """The profile signed in most recently, if it still exists."""
        try:
            name = (self.folder / "last").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return name if name in self.names() else None

    def _path(self, name: str) -> Path:
        return self.folder / f"{check_profile_name(name)}.json"


def choose_workspace(principal: Principal | None, previous: str | None) -> str | None:
    """The workspace to open: the one used last, else "default", else the first one."""
    names = [m.workspace_name for m in principal.memberships] if principal else []
    for candidate in (previous, "default"):
        if candidate and candidate in names:
            return candidate
    return names[0] if names else None


@dataclass(frozen=True)
class SignedIn:
    """A live sign-in: the client to call the hub with and who the hub says we are."""

    client: HubClient
    principal: Principal
    profile: Profile
    workspace: str | None


class HubSessionService:
    """Connects profiles to hubs and keeps each user's tokens in `store` (keyring or file)."""

    def __init__(self, store: CredentialStore, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.store = store
        self.timeout = timeout

    def connect(self, profile: Profile, *, with_saved_tokens: bool) -> HubClient:
        """A client for `profile`; the pinned CA is checked here (`HubTrustError` if not)."""
        if not profile.hub or not profile.hub_ca or not profile.username:
            raise ValueError("a profile needs a hub address, a pinned CA and a user name")
        account = account_name(profile.hub, profile.username)
        tokens = self.store.load(account) if with_saved_tokens else None
        return self._client(profile, tokens, profile.username)

    def _client(
        self, profile: Profile, tokens: StoredTokens | None, username: str | None
    ) -> HubClient:
        """A client whose new tokens go to the store under (hub, user); with no `username`
        yet (single sign-on) the user is the one the first token pair names."""
        if not profile.hub or not profile.hub_ca:
            raise ValueError("a profile needs a hub address and a pinned CA")
        hub = profile.hub
        settings = ClientSettings(hub=hub, hub_ca=profile.hub_ca, timeout=self.timeout, retries=2)
        who = [username]

        def keep(pair: TokenPair) -> None:
            if who[0] is None and pair.principal is not None:
                who[0] = pair.principal.username
            if who[0]:
                # Refresh tokens rotate: every new pair replaces the stored one.
                tokens = StoredTokens(pair.refresh_token, pair.access_token, pair.access_expires_at)
                self.store.save(account_name(hub, who[0]), tokens)

        return HubClient.connect(settings, tokens=tokens, on_tokens=keep)

    def sign_in(self, profile: Profile, password: str, totp_code: str = "") -> SignedIn:
        """Password sign-in; `SecondFactorNeeded` when the account has TOTP and the code is
        missing or wrong (a recovery code is accepted in its place)."""
        client = self.connect(profile, with_saved_tokens=False)
        try:
            assert profile.username is not None
            try:
                pair = client.login(profile.username, password, totp_code.strip())
            except AuthenticationError as exc:
                if exc.message.startswith(_SECOND_FACTOR_PREFIX):
                    detail = exc.message.removeprefix(_SECOND_FACTOR_PREFIX).strip()
                    raise SecondFactorNeeded(detail, asked=not totp_code.strip()) from None
                raise
            principal = pair.principal or client.whoami()
        except BaseException:
            client.close()
            raise
        workspace = choose_workspace(principal, profile.workspace)
        return SignedIn(client, principal, profile.updated(workspace=workspace), workspace)

    def list_sso_providers(self, profile: Profile) -> list[tuple[str, str]]:
        """(name, display name) of the providers the hub offers (no sign-in needed)."""
        client = self._client(profile, None, None)
        try:
            return client.list_sso_providers()
        finally:
            client.close()

    def sign_in_sso(
        self,
        profile: Profile,
        provider: str,
        *,
        open_browser: Callable[[str], bool],
        on_abort: Callable[[Callable[[], None]], object] | None = None,
        timeout: float = SSO_TIMEOUT_S,
    ) -> SignedIn:
        """Single sign-on in the system browser (loopback redirect + PKCE, see
        `HubClient.login_sso`); the tokens are kept like a password sign-in's."""
        client = self._client(profile, None, None)
        try:
            pair = client.login_sso(
                provider, open_browser=open_browser, timeout=timeout, on_abort=on_abort
            )
            principal = pair.principal or client.whoami()
        except BaseException:
            client.close()
            raise
        workspace = choose_workspace(principal, profile.workspace)
        signed_profile = profile.updated(username=principal.username, workspace=workspace)
        return SignedIn(client, principal, signed_profile, workspace)

    def resume(self, profile: Profile) -> SignedIn:
        """Sign in again with the stored refresh token (no password)."""
        if (
            not profile.hub
            or not profile.username
            or self.store.load(account_name(profile.hub, profile.username)) is None
        ):
            raise AuthenticationError("no saved sign-in for this profile: enter the password")
        client = self.connect(profile, with_saved_tokens=True)
        try:
            principal = client.whoami()
        except BaseException:
            client.close()
            raise
        workspace = choose_workspace(principal, profile.workspace)
        return SignedIn(client, principal, profile.updated(workspace=workspace), workspace)

    def sign_out(self, signed: SignedIn) -> None:
        """Revoke on the hub when it can be told; forget the stored tokens in any case."""
        try:
            signed.client.logout()
        finally:
            signed.client.close()
            profile = signed.profile
            if profile.hub and profile.username:
                self.store.delete(account_name(profile.hub, profile.username))
