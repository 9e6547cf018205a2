"""Single sign-on and two-step sign-in (TOTP) in the desktop, against a real hub and the
real OpenID Connect provider of the SSO tests (node `oidc-provider`).

The "system browser" is the SSO tests' headless one (`tests/sso/browser.py`), reached the
way the desktop opens any address: `QDesktopServices.openUrl`, here routed by a URL handler
for http to a thread that follows the authorization URL back to the loopback redirect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import qrcode
import requests
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from modelfleet.agent.hub.mfa.totp import code_at, current_step
from modelfleet.client import FileStore, Profile, account_name
from modelfleet.desktop.app import Desktop, build_desktop
from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
from modelfleet.desktop.widgets.totp_dialog import qr_image
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in
from tests.sso.browser import authorize
from tests.sso.conftest import HUB_CLIENT, OidcProvider, oidc_provider

hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
__all__ = ["desktop", "hub_db_url", "oidc_provider", "private_data_dir"]

Browse = Callable[[str], None]


@pytest.fixture
def hub_env() -> dict[str, str]:
    return {
        # The identity provider listens on 127.0.0.1: the explicit opening for it on this hub.
        "MODELFLEET_HUB_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        # Asked-for and wrong codes count as failed sign-ins from this address; these tests
        # make a few on purpose, and the back-off has its own tests.
        "MODELFLEET_HUB_THROTTLE_FREE_ATTEMPTS": "20",
    }


@pytest.fixture
def desktop(qtbot, tmp_path: Path) -> Iterator[Desktop]:
    """As the sign-in tests' one, with the default call timeout: these sign-ins hash a
    password, check a code and talk to the identity provider on a shared, busy machine."""
    service = HubSessionService(FileStore(tmp_path / "credentials.json"))
    built = build_desktop(session_service=service, profiles=ProfileBook(tmp_path / "profiles"))
    qtbot.addWidget(built.window)
    built.window.show()
    yield built
    built.shutdown()


@pytest.fixture
def corp(running_hub: RunningHub, oidc_provider: OidcProvider) -> OidcProvider:
    with admin_client(running_hub) as admin:
        admin.add_sso_provider(
            "corp",
            HUB_CLIENT,
            issuer=oidc_provider.issuer,
            client_secret=oidc_provider.client_secret,
            jit_user_creation=True,
            display_name="Corp ID",
        )
    return oidc_provider


class _Browser(QObject):
    """Receives `QDesktopServices.openUrl(http...)`; runs `browse(url)` on a thread."""

    def __init__(self, browse: Browse) -> None:
        super().__init__()
        self.browse = browse
        self.opened: list[str] = []
        self.threads: list[threading.Thread] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        text = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        self.opened.append(text)
        thread = threading.Thread(target=self.browse, args=(text,), daemon=True)
        thread.start()
        self.threads.append(thread)


@contextmanager
def system_browser(browse: Browse) -> Iterator[_Browser]:
    browser = _Browser(browse)
    QDesktopServices.setUrlHandler("http", browser, "open")
    try:
        yield browser
    finally:
        QDesktopServices.unsetUrlHandler("http")
        for thread in browser.threads:
            thread.join(15)


def _redirect_with(url: str, drop: str = "", **query: str) -> None:
    """Follow the provider's pages up to the loopback redirect; change its query by `query`
    (and without `drop`) before the browser lands there."""
    loopback = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    back = urlsplit(authorize(url, stop_at=loopback))
    sent = {k: v[0] for k, v in parse_qs(back.query).items() if k != drop} | query
    requests.get(urlunsplit(back._replace(query=urlencode(sent))), timeout=10)


def _open_team(desktop: Desktop, qtbot, hub: RunningHub):  # type: ignore[no-untyped-def]
    desktop.session.book.save("team", Profile(hub=hub.address, hub_ca=hub.ca_fingerprint))
    dialog = desktop.session_bar.open_sign_in("team")
    qtbot.waitUntil(lambda: "corp" in dialog.sso_buttons, timeout=TIMEOUT_MS)
    return dialog


def test_single_sign_on_from_the_dialog_signs_in_as_the_identity_provider_user(
    running_hub: RunningHub, corp: OidcProvider, desktop: Desktop, qtbot
) -> None:
    session = desktop.session
    corp.set_account("desk-kim-1", "kim@example.com")
    dialog = _open_team(desktop, qtbot, running_hub)
    button = dialog.sso_buttons["corp"]
    assert button.text() == "Sign in with Corp ID" and not dialog.sso_find_button.isVisible()

    signed = [session.signedIn, session.workspacesChanged]
    with system_browser(authorize) as browser, qtbot.waitSignals(signed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    # The browser was sent to the provider with PKCE (S256) and a loopback redirect on
    # 127.0.0.1 (any port), as RFC 8252 asks.
    (url,) = browser.opened
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(corp.issuer)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    redirect = urlsplit(query["redirect_uri"][0])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")

    assert session.principal is not None and session.principal.username == "kim"
    assert not dialog.isVisible()
    assert desktop.session_bar.identity.text() == f"kim @ {running_hub.address}"
    # Kept like a password sign-in: the profile names the user, the store holds the tokens,
    # and the next start resumes without the browser.
    assert session.book.load("team").username == "kim"
    assert session.service.store.load(account_name(running_hub.address, "kim")) is not None
    later = type(session)(session.service, session.book)
    # (Both signals: closing the client under the workspace listing's call is not tested here.)
    with qtbot.waitSignals([later.signedIn, later.workspacesChanged], timeout=TIMEOUT_MS):
        later.resume("team")
    assert later.principal is not None and later.principal.username == "kim"
    later.shutdown()


def test_single_sign_on_failures_are_clear_and_cancel_stops_waiting(
    running_hub: RunningHub, corp: OidcProvider, desktop: Desktop, qtbot
) -> None:
    session = desktop.session
    corp.set_account("desk-lee-1", "lee@example.com")
    dialog = _open_team(desktop, qtbot, running_hub)

    def attempt(browse: Browse) -> str:
        with (
            system_browser(browse),
            qtbot.waitSignal(session.signInFailed, timeout=TIMEOUT_MS) as failed,
        ):
            qtbot.mouseClick(dialog.sso_buttons["corp"], Qt.MouseButton.LeftButton)
        assert dialog.error_label.text() == failed.args[0] and dialog.error_label.isVisible()
        assert dialog.sign_in_button.isEnabled() and not dialog.sso_cancel_button.isVisible()
        return str(failed.args[0])

    # The identity provider refused: its reason is shown.
    refused = attempt(
        lambda url: _redirect_with(
            url, drop="code", error="access_denied", error_description="the user said no"
        )
    )
    assert refused == "SSO sign-in refused by the identity provider: the user said no."

    # A redirect carrying another state (a forged or crossed sign-in) is not completed.
    assert attempt(lambda url: _redirect_with(url, state="forged")) == (
        "SSO sign-in: the redirect's state does not match; try again."
    )

    # Nobody comes back: the wait ends with a timeout.
    session.sso_timeout = 1.0
    assert attempt(lambda url: None) == "SSO sign-in: no answer from the browser in time."

    # Cancel while the browser is open: not signed in, and the loopback listens no more.
    session.sso_timeout = 60.0
    with system_browser(lambda url: None) as browser:
        with qtbot.waitSignal(session.ssoBrowserNeeded, timeout=TIMEOUT_MS):
            qtbot.mouseClick(dialog.sso_buttons["corp"], Qt.MouseButton.LeftButton)
        assert dialog.sso_cancel_button.isVisible() and dialog.sso_url in dialog.sso_status.text()
        assert not dialog.sign_in_button.isEnabled()
        with qtbot.waitSignal(session.signInFailed, timeout=TIMEOUT_MS) as cancelled:
            qtbot.mouseClick(dialog.sso_cancel_button, Qt.MouseButton.LeftButton)
    assert cancelled.args[0] == "Single sign-on cancelled: not signed in."
    assert dialog.sign_in_button.isEnabled() and not dialog.sso_cancel_button.isVisible()
    loopback = parse_qs(urlsplit(browser.opened[0]).query)["redirect_uri"][0]
    with pytest.raises(requests.ConnectionError):
        requests.get(loopback, params={"code": "x", "state": "y"}, timeout=5)
    assert session.signed is None
    dialog.reject()


def _code(secret: str, step_offset: int = 0) -> str:
    return code_at(secret, current_step() + step_offset)


def test_totp_enrolment_shows_the_qr_then_password_sign_in_asks_for_the_code(
    running_hub: RunningHub, desktop: Desktop, qtbot
) -> None:
    session = desktop.session
    with admin_client(running_hub) as admin:
        admin.create_user("tess", password="tess-secret-pw")
    sign_in(desktop, qtbot, running_hub, "tess", "tess-secret-pw")
    bar = desktop.session_bar
    assert bar.totp_button.isVisible()

    # Enrolment: the QR code is the otpauth URI's, painted module by module.
    dialog = bar.open_totp()
    qtbot.waitUntil(lambda: dialog.enrolment is not None, timeout=TIMEOUT_MS)
    enrolment = dialog.enrolment
    assert enrolment is not None and enrolment.otpauth_uri.startswith("otpauth://totp/")
    expected = qrcode.QRCode()
    expected.add_data(enrolment.otpauth_uri)
    expected.make(fit=True)
    assert dialog.matrix == expected.get_matrix()
    image = qr_image(dialog.matrix, 4)
    for y, row in enumerate(dialog.matrix):
        for x, dark in enumerate(row):
            assert image.pixelColor(x * 4 + 2, y * 4 + 2).lightness() == (0 if dark else 255)
    pixmap = dialog.qr_label.pixmap()
    assert not pixmap.isNull() and pixmap.width() == len(dialog.matrix) * 5
    assert dialog.secret_label.text().replace(" ", "") == enrolment.secret

    # A wrong code is refused with the hub's reason; the current one turns TOTP on and shows
    # the recovery codes once.
    dialog.code_edit.setText("000000" if _code(enrolment.secret) != "000000" else "111111")
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=TIMEOUT_MS)
    assert "code" in dialog.error_label.text()
    qtbot.waitUntil(lambda: dialog.confirm_button.isEnabled(), timeout=TIMEOUT_MS)
    dialog.code_edit.setText(_code(enrolment.secret))
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialog.recovery_codes), timeout=TIMEOUT_MS)
    assert dialog.codes_view.isVisible() and not dialog.enrol_panel.isVisible()
    assert dialog.codes_view.toPlainText().split("\n") == dialog.recovery_codes
    recovery = dialog.recovery_codes[0]
    dialog.reject()

    # Password sign-in in the dialog: asked for the code, a wrong one is an error, the
    # current one signs in (the next time step: the confirmation spent this one).
    with qtbot.waitSignal(session.signedOut, timeout=TIMEOUT_MS):
        qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    signin = bar.open_sign_in("team")
    signin.user_edit.setText("tess")
    signin.password_edit.setText("tess-secret-pw")
    assert not signin.form.isRowVisible(signin.code_row)
    with qtbot.waitSignal(session.secondFactorNeeded, timeout=TIMEOUT_MS) as asked:
        qtbot.mouseClick(signin.sign_in_button, Qt.MouseButton.LeftButton)
    assert asked.args[0].startswith("This account has two-step sign-in: enter the 6-digit code")
    assert signin.form.isRowVisible(signin.code_row) and signin.error_label.text() == asked.args[0]
    assert session.signed is None

    signin.code_edit.setText("12345x")
    with qtbot.waitSignal(session.secondFactorNeeded, timeout=TIMEOUT_MS) as wrong:
        qtbot.mouseClick(signin.sign_in_button, Qt.MouseButton.LeftButton)
    assert (
        wrong.args[0] == "Two-step sign-in: wrong code. Enter the current code or a recovery code."
    )
    assert signin.error_label.isVisible() and session.signed is None

    signin.code_edit.setText(_code(enrolment.secret, 1))
    with qtbot.waitSignal(session.signedIn, timeout=TIMEOUT_MS) as signed:
        qtbot.mouseClick(signin.sign_in_button, Qt.MouseButton.LeftButton)
    assert signed.args[0].username == "tess" and not signin.isVisible()

    # A recovery code works in place of the app's code (once).
    with qtbot.waitSignal(session.signedOut, timeout=TIMEOUT_MS):
        qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    signin = bar.open_sign_in("team")
    signin.password_edit.setText("tess-secret-pw")
    with qtbot.waitSignal(session.secondFactorNeeded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(signin.sign_in_button, Qt.MouseButton.LeftButton)
    signin.code_edit.setText(recovery)
    with qtbot.waitSignal(session.signedIn, timeout=TIMEOUT_MS):
        qtbot.mouseClick(signin.sign_in_button, Qt.MouseButton.LeftButton)
    assert session.principal is not None and session.principal.username == "tess"
