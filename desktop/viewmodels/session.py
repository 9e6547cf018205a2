"""Who is signed in to which hub, the current workspace, and the hub calls pages make.

Pages never hold a client: they ask `SessionViewModel.run` to call the hub on a worker.
A failure comes back as one readable sentence; a lost connection also raises the shell's
banner and starts a reconnect loop, and `workspaceChanged` (re-emitted after reconnecting,
signing in and switching) tells every page to reload for the current workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import (
    AuthenticationError,
    HubClient,
    HubTrustError,
    ModelfleetError,
    Principal,
    Profile,
    Workspace,
)
from modelfleet.desktop.services.cancel import Cancelled, CancelToken
from modelfleet.desktop.services.hub_session import (
    SSO_TIMEOUT_S,
    HubCertificate,
    HubSessionService,
    ProfileBook,
    SecondFactorNeeded,
    SignedIn,
    check_hub_address,
    check_profile_name,
    probe_hub_ca,
)
from modelfleet.desktop.services.messages import TRUST_WARNING, is_connection_problem, readable
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.workers import TaskWorker, WorkerSlot

RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 8.0

Progress = Callable[[object], None]
HubCall = Callable[[HubClient, CancelToken, Progress], Any]


@dataclass(frozen=True)
class Refused:
    """A sign-in that did not happen; `trust` marks a certificate problem (shown loudly)."""

    message: str
    trust: bool = False
    code_needed: bool = False  # the password was right; a TOTP or recovery code is missing


@dataclass(frozen=True)
class _Pending:
    name: str
    profile: Profile
    password: str
    totp_code: str = ""
    then: str = "password"  # after trusting the hub: "password" sign-in or list "providers"


class SessionViewModel(QObject):
    """Sign-in state machine: signed out -> (trust prompt) -> signed in -> signed out."""

    busyChanged = Signal(bool)
    signedIn = Signal(object)  # Principal
    signedOut = Signal()
    signInFailed = Signal(str)
    trustRequested = Signal(object)  # HubCertificate: ask the person before pinning
    trustFailed = Signal(str)  # the pinned fingerprint did not match: loud
    passwordNeeded = Signal(str)  # profile name with no saved sign-in
    secondFactorNeeded = Signal(str)  # the account has TOTP: ask for a code (why, in words)
    ssoProvidersChanged = Signal(list)  # list[tuple[name, display name]] of the hub's providers
    ssoBrowserNeeded = Signal(str)  # open this authorization URL in the system browser
    workspacesChanged = Signal(list)  # list[Workspace] the switcher offers
    workspaceChanged = Signal(str)  # every page re-scopes (reloads) on this
    permissionsChanged = Signal(object)  # Permissions
    connectionChanged = Signal(str, str, str)  # source, "lost" | "live", message
    errorRaised = Signal(str)
    # Emitted by workers' threads; Qt queues it to this object's (the GUI) thread.
    _connectionLost = Signal(str)

    def __init__(
        self, service: HubSessionService, book: ProfileBook, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.book = book
        self.signed: SignedIn | None = None
        self.profile_name: str | None = None
        self.workspace: str | None = None
        self.workspaces: list[Workspace] = []
        self.permissions = Permissions()
        self.lost = False
        self._pending: _Pending | None = None
        self._slot = WorkerSlot(self)
        self._reconnect = WorkerSlot(self)
        self._shut_down = False
        self._workspace_slot = WorkerSlot(self)
        self._sign_out_slot = WorkerSlot(self)
        self._save_slot = WorkerSlot(self)
        self._providers_slot = WorkerSlot(self)
        self.sso_timeout = SSO_TIMEOUT_S
        self._connectionLost.connect(self._on_connection_lost)

    # --- state --------------------------------------------------------------------------

    @property
    def principal(self) -> Principal | None:
        return self.signed.principal if self.signed else None

    @property
    def source(self) -> str:
        """The name the connection banner uses for the hub."""
        return _source_of(self.signed)

    # --- signing in -----------------------------------------------------------------------

    def sign_in(
        self, name: str, hub: str, username: str, password: str, totp_code: str = ""
    ) -> None:
        """Sign in with a password (and a TOTP or recovery code when the account has one);
        a profile without a pinned CA asks for trust first."""
        try:
            name = check_profile_name(name)
            address = check_hub_address(hub)
        except ValueError as exc:
            self.signInFailed.emit(str(exc))
            return
        if not username.strip():
            self.signInFailed.emit("User name: expected the name you sign in with")
            return
        if not password:
            self.signInFailed.emit("Password: expected your password")
            return
        saved = self.book.load(name) if name in self.book.names() else Profile()
        # A changed address is a different hub: its certificate has to be trusted anew.
        pin = saved.hub_ca if saved.hub == address else None
        profile = saved.updated(hub=address, hub_ca=pin, username=username.strip())
        self._pending = _Pending(name, profile, password, totp_code)
        if pin:
            self._start_sign_in()
            return
        self._probe(address)

    def _probe(self, address: str) -> None:
        def probe(token: CancelToken, _progress: Progress) -> HubCertificate | Refused:
            try:
                return probe_hub_ca(address, self.service.timeout)
            except ModelfleetError as exc:
                return Refused(readable(exc, signing_in=True))

        self._run_session_task("probe hub", probe, self._on_probed)

    def accept_trust(self, certificate: HubCertificate) -> None:
        """The person compared the fingerprint: pin it in the profile and sign in."""
        pending = self._pending
        if pending is None or pending.profile.hub != certificate.address:
            return
        profile = pending.profile.updated(hub_ca=certificate.fingerprint)
        if pending.then == "providers":
            self._pending = None
            self._list_providers(pending.name, profile, save_pin=True)
            return
        self._pending = _Pending(pending.name, profile, pending.password, pending.totp_code)
        # The pin is saved even if the password turns out wrong: the trust decision stands.
        self._start_sign_in(save_pin=True)

    # --- single sign-on -------------------------------------------------------------------

    def find_sso(self, name: str, hub: str, *, quiet: bool = False) -> None:
        """List the hub's SSO providers (`ssoProvidersChanged`); a hub whose CA is not
        pinned yet is probed and its certificate shown for trust first. `quiet` (a lookup
        nobody asked for) reports nothing, not even a wrong pin: signing in will."""
        checked = self._checked_profile(name, hub)
        if checked is None:
            return
        name, profile = checked
        if profile.hub_ca:
            self._list_providers(name, profile, quiet=quiet)
            return
        if quiet:
            return
        self._pending = _Pending(name, profile, "", then="providers")
        assert profile.hub is not None
        self._probe(profile.hub)

    def sign_in_sso(self, name: str, hub: str, provider: str) -> None:
        """Sign in with `provider` in the system browser (`ssoBrowserNeeded` carries the URL);
        waits on a worker for the loopback redirect until `cancel_sso` or the timeout."""
        checked = self._checked_profile(name, hub)
        if checked is None:
            return
        name, profile = checked
        if not profile.hub_ca:
            self.signInFailed.emit("Single sign-on: trust the hub's certificate first.")
            return
        service, book, timeout = self.service, self.book, self.sso_timeout
        browser = self.ssoBrowserNeeded

        def open_browser(url: str) -> bool:
            browser.emit(url)  # queued to the GUI thread, where the dialog opens the browser
            return True

        def sign_in(token: CancelToken, _progress: Progress) -> SignedIn | Refused:
            try:
                signed = service.sign_in_sso(
                    profile,
                    provider,
                    open_browser=open_browser,
                    on_abort=token.on_cancel,
                    timeout=timeout,
                )
            except ModelfleetError as exc:
                token.raise_if_cancelled()
                return Refused(_sso_readable(exc), trust=_is_trust(exc))
            book.save(name, signed.profile)
            return signed

        self.profile_name = name
        self._run_session_task("single sign-on", sign_in, self._on_signed_in_or_refused)

    def cancel_sso(self) -> None:
        """Stop waiting for the browser: nothing is completed, nobody signed in."""
        worker = self._slot.current
        if worker is None or worker.objectName() != "single sign-on":
            return
        self._slot.cancel()
        self.busyChanged.emit(False)
        self.signInFailed.emit("Single sign-on cancelled: not signed in.")

    def stop_finding_sso(self) -> None:
        self._providers_slot.cancel()

    def _checked_profile(self, name: str, hub: str) -> tuple[str, Profile] | None:
        """The saved (or a new) profile for `name` at `hub`; None after reporting bad input."""
        try:
            name = check_profile_name(name)
            address = check_hub_address(hub)
        except ValueError as exc:
            self.signInFailed.emit(str(exc))
            return None
        saved = self.book.load(name) if name in self.book.names() else Profile()
        pin = saved.hub_ca if saved.hub == address else None
        return name, saved.updated(hub=address, hub_ca=pin)

    def _list_providers(
        self, name: str, profile: Profile, *, save_pin: bool = False, quiet: bool = False
    ) -> None:
        service, book = self.service, self.book

        def providers(token: CancelToken, _progress: Progress) -> list[tuple[str, str]] | Refused:
            if save_pin:
                book.save(name, profile)
            try:
                return service.list_sso_providers(profile)
            except ModelfleetError as exc:
                if _is_trust(exc) and not quiet:
                    return Refused(readable(exc), trust=True)
                return []  # a hub that cannot say offers no SSO button; no message needed

        worker = TaskWorker("list SSO providers", providers)
        worker.succeeded.connect(self._on_providers)
        worker.failed.connect(lambda _message: self.ssoProvidersChanged.emit([]))
        self._providers_slot.start(worker)

    def _on_providers(self, result: list[tuple[str, str]] | Refused) -> None:
        if isinstance(result, Refused):
            self.trustFailed.emit(result.message)
            self.ssoProvidersChanged.emit([])
        else:
            self.ssoProvidersChanged.emit(result)

    def reject_trust(self) -> None:
        self._pending = None
        self.signInFailed.emit("Not signed in: you did not trust the hub's certificate.")

    def resume(self, name: str | None = None) -> None:
        """Sign in with the stored refresh token of `name` (default: the last profile)."""
        name = name or self.book.last()
        if name is None:
            self.passwordNeeded.emit("")
            return
        profile = self.book.load(name)

        def resume(token: CancelToken, _progress: Progress) -> SignedIn | Refused:
            try:
                signed = self.service.resume(profile)
                self.book.save(name, signed.profile)
                return signed
            except ModelfleetError as exc:
                return Refused(readable(exc), trust=_is_trust(exc))

        self.profile_name = name
        self._run_session_task("resume sign-in", resume, self._on_signed_in_or_refused)

    def sign_out(self) -> None:
        signed, self.signed = self.signed, None
        self._slot.cancel()
        self._reconnect.cancel()
        if self.lost:
            self.lost = False
            self.connectionChanged.emit(_source_of(signed), "live", "")
        self.workspace = None
        self.workspaces = []
        self._set_permissions(Permissions())
        self.signedOut.emit()
        self.workspacesChanged.emit([])
        self.workspaceChanged.emit("")  # pages drop what they showed
        if signed is not None:
            # Telling the hub may take a moment (or fail when it is down): not on this thread.
            worker = TaskWorker("sign out", lambda _t, _p: self.service.sign_out(signed))
            worker.failed.connect(
                lambda message: self.errorRaised.emit(f"Signed out here; {message}")
            )
            self._sign_out_slot.start(worker)

    def _start_sign_in(self, save_pin: bool = False) -> None:
        pending = self._pending
        assert pending is not None

        def sign_in(token: CancelToken, _progress: Progress) -> SignedIn | Refused:
            # Profiles are written here, off the GUI thread (the write syncs to disk).
            if save_pin:
                self.book.save(pending.name, pending.profile)
            try:
                signed = self.service.sign_in(pending.profile, pending.password, pending.totp_code)
                self.book.save(pending.name, signed.profile)
                return signed
            except SecondFactorNeeded as exc:
                return Refused(_second_factor_message(exc), code_needed=True)
            except ModelfleetError as exc:
                return Refused(readable(exc, signing_in=True), trust=_is_trust(exc))

        self.profile_name = pending.name
        self._run_session_task("sign in", sign_in, self._on_signed_in_or_refused)

    def _run_session_task(
        self, name: str, fn: Callable[..., object], done: Callable[[Any], None]
    ) -> None:
        worker = TaskWorker(name, fn)
        worker.succeeded.connect(done)
        worker.failed.connect(self._on_session_task_failed)
        self.busyChanged.emit(True)
        self._slot.start(worker)

    def _on_session_task_failed(self, message: str) -> None:
        self.busyChanged.emit(False)
        self.signInFailed.emit(message)

    def _on_probed(self, result: HubCertificate | Refused) -> None:
        self.busyChanged.emit(False)
        if isinstance(result, Refused):
            self._pending = None
            self.signInFailed.emit(result.message)
        else:
            self.trustRequested.emit(result)

    def _on_signed_in_or_refused(self, result: SignedIn | Refused) -> None:
        self.busyChanged.emit(False)
        self._pending = None  # the password is not kept past this attempt
        if isinstance(result, Refused):
            if result.trust:
                self.trustFailed.emit(result.message)
            elif result.code_needed:
                self.secondFactorNeeded.emit(result.message)
            elif self.profile_name and "no saved sign-in" in result.message:
                self.passwordNeeded.emit(self.profile_name)
            else:
                self.signInFailed.emit(result.message)
            return
        if self.signed is not None:
            self.signed.client.close()
        self.signed = result
        self.signedIn.emit(result.principal)
        self._set_workspace(result.workspace)
        self.refresh_workspaces()

    # --- workspaces -----------------------------------------------------------------------

    def refresh_workspaces(self) -> None:
        """Reload the switcher's list (after sign-in, or a workspace was created/renamed)."""
        self.run(
            self._workspace_slot,
            "list workspaces",
            lambda client, _t, _p: client.list_workspaces(),
            self._on_workspaces,
        )

    def switch_workspace(self, name: str) -> None:
        if self.signed is None or name == self.workspace:
            return
        self._set_workspace(name)
        if self.profile_name is not None:
            profile = self.signed.profile.updated(workspace=name)
            self.signed = SignedIn(self.signed.client, self.signed.principal, profile, name)
            book, profile_name = self.book, self.profile_name
            self._save_slot.start(
                TaskWorker("save profile", lambda _t, _p: book.save(profile_name, profile))
            )

    def _on_workspaces(self, workspaces: list[Workspace]) -> None:
        self.workspaces = [w for w in workspaces if not w.archived]
        names = [w.name for w in self.workspaces]
        self.workspacesChanged.emit(self.workspaces)
        if self.workspace not in names:
            self._set_workspace(names[0] if names else None)
        else:
            self._update_permissions()

    def _set_workspace(self, name: str | None) -> None:
        self.workspace = name
        self._update_permissions()
        self.workspaceChanged.emit(name or "")

    def _update_permissions(self) -> None:
        principal = self.principal
        if principal is None:
            return
        self._set_permissions(Permissions.of(principal, self.workspace, self.workspaces))

    def _set_permissions(self, permissions: Permissions) -> None:
        if permissions != self.permissions:
            self.permissions = permissions
            self.permissionsChanged.emit(permissions)

    # --- hub calls for pages --------------------------------------------------------------

    def run(
        self,
        slot: WorkerSlot,
        name: str,
        fn: HubCall,
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None] | None = None,
        on_progress: Callable[[object], None] | None = None,
    ) -> TaskWorker | None:
        """Call `fn(client, token, progress)` on a worker in `slot`; None when signed out.

        Failures reach `on_failed` (default: the message bar) as one readable sentence.
        """
        signed = self.signed
        if signed is None:
            (on_failed or self.errorRaised.emit)("Not signed in: sign in to a hub first.")
            return None
        lost = self._connectionLost

        def task(token: CancelToken, progress: Progress) -> object:
            try:
                return fn(signed.client, token, progress)
            except ModelfleetError as exc:
                if is_connection_problem(exc):
                    lost.emit(readable(exc))
                raise ModelfleetError(readable(exc)) from exc
            except ValueError:
                # gRPC's answer to a call on a channel closed by signing out meanwhile.
                if self.signed is not signed:
                    raise Cancelled from None
                raise

        worker = TaskWorker(name, task)
        worker.succeeded.connect(on_done)
        worker.failed.connect(on_failed or self.errorRaised.emit)
        if on_progress is not None:
            worker.progress.connect(on_progress)
        slot.start(worker)
        return worker

    # --- connection loss ------------------------------------------------------------------

    def _on_connection_lost(self, message: str) -> None:
        # After shutdown the closed client's calls fail like a lost hub: no reconnect then.
        if self.signed is None or self.lost or self._shut_down:
            return
        self.lost = True
        self.connectionChanged.emit(self.source, "lost", f"{message} Reconnecting…")
        client = self.signed.client

        def reconnect(token: CancelToken, _progress: Progress) -> Principal:
            delay = RECONNECT_INITIAL_S
            while True:
                try:
                    return client.whoami()
                except ModelfleetError as exc:
                    if not is_connection_problem(exc):
                        raise ModelfleetError(readable(exc)) from exc
                token.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

        worker = TaskWorker("reconnect", reconnect)
        worker.succeeded.connect(self._on_reconnected)
        worker.failed.connect(self._on_reconnect_failed)
        self._reconnect.start(worker)

    def _on_reconnected(self, _principal: Principal) -> None:
        self.lost = False
        self.connectionChanged.emit(self.source, "live", "")
        self.workspaceChanged.emit(self.workspace or "")  # pages reload what they missed

    def _on_reconnect_failed(self, message: str) -> None:
        self.errorRaised.emit(message)
        self.sign_out()

    def shutdown(self) -> None:
        self._shut_down = True
        self._slot.cancel()
        self._providers_slot.cancel()
        self._reconnect.cancel()
        self._workspace_slot.cancel()
        if self.signed is not None:
            self.signed.client.close()


def _source_of(signed: SignedIn | None) -> str:
    hub = signed.profile.hub if signed else None
    return f"hub {hub}" if hub else "hub"


def _is_trust(exc: ModelfleetError) -> bool:
    return isinstance(exc, HubTrustError)


def _second_factor_message(exc: SecondFactorNeeded) -> str:
    if exc.asked:
        return (
            "This account has two-step sign-in: enter the 6-digit code from your "
            "authenticator app, or one of your recovery codes."
        )
    return f"Two-step sign-in: {exc.message}. Enter the current code or a recovery code."


def _sso_readable(exc: ModelfleetError) -> str:
    """Single sign-on failures say what went wrong (not "wrong password")."""
    if isinstance(exc, AuthenticationError):
        return f"{exc.message[:1].upper()}{exc.message[1:]}."
    return readable(exc, signing_in=True)


__all__ = ["TRUST_WARNING", "Refused", "SessionViewModel"]
