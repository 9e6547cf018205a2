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
    HubClient,
    HubTrustError,
    ModelfleetError,
    Principal,
    Profile,
    Workspace,
)
from modelfleet.desktop.services.cancel import Cancelled, CancelToken
from modelfleet.desktop.services.hub_session import (
    HubCertificate,
    HubSessionService,
    ProfileBook,
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


@dataclass(frozen=True)
class _Pending:
    name: str
    profile: Profile
    password: str


class SessionViewModel(QObject):
    """Sign-in state machine: signed out -> (trust prompt) -> signed in -> signed out."""

    busyChanged = Signal(bool)
    signedIn = Signal(object)  # Principal
    signedOut = Signal()
    signInFailed = Signal(str)
    trustRequested = Signal(object)  # HubCertificate: ask the person before pinning
    trustFailed = Signal(str)  # the pinned fingerprint did not match: loud
    passwordNeeded = Signal(str)  # profile name with no saved sign-in
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
        self._workspace_slot = WorkerSlot(self)
        self._sign_out_slot = WorkerSlot(self)
        self._save_slot = WorkerSlot(self)
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

    def sign_in(self, name: str, hub: str, username: str, password: str) -> None:
        """Sign in with a password; a profile without a pinned CA asks for trust first."""
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
        self._pending = _Pending(name, profile, password)
        if pin:
            self._start_sign_in()
            return

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
        self._pending = _Pending(pending.name, profile, pending.password)
        # The pin is saved even if the password turns out wrong: the trust decision stands.
        self._start_sign_in(save_pin=True)

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
                signed = self.service.sign_in(pending.profile, pending.password)
                self.book.save(pending.name, signed.profile)
                return signed
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
        if self.signed is None or self.lost:
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
        self._slot.cancel()
        self._reconnect.cancel()
        self._workspace_slot.cancel()
        if self.signed is not None:
            self.signed.client.close()


def _source_of(signed: SignedIn | None) -> str:
    hub = signed.profile.hub if signed else None
    return f"hub {hub}" if hub else "hub"


def _is_trust(exc: ModelfleetError) -> bool:
    return isinstance(exc, HubTrustError)


__all__ = ["TRUST_WARNING", "Refused", "SessionViewModel"]
