"""Screenshots of the sign-in dialog, the trust prompt, and the Admin and Audit pages with data
from a real hub, under Xvfb, into docs/screenshots (this file is also the script it runs).

Runs after test_screenshots.py (name order), whose pages without a hub it replaces.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

from tests.desktop import test_signin as _signin

hub_db_url = _signin.hub_db_url  # SQLite, as in the sign-in tests

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "docs" / "screenshots"
NAMES = ("10-signin.png", "11-signin-trust.png", "08-admin.png", "07-audit.png")


def test_signin_admin_and_audit_screenshots(running_hub, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage
    from xvfb import xcb_env, xvfb

    with xvfb() as display:
        result = subprocess.run(
            [sys.executable, __file__, str(SCREENSHOTS), running_hub.address,
             str(running_hub.ca_pem), running_hub.admin_password, str(tmp_path / "app")],
            env=xcb_env(display, PYTHONPATH=f"{HERE}:{HERE.parents[1]}",
                        MODELFLEET_DATA_DIR=str(tmp_path / "app")),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in saved] == list(NAMES)
    for path in saved:
        image = QImage(str(path))
        assert image.width() >= 400 and image.height() >= 200, path
        colours = {
            image.pixel(x, y)
            for x in range(0, image.width(), 8)
            for y in range(0, image.height(), 8)
        }
        assert len(colours) > 5, path


def _populate(address: str, ca_file: str, password: str) -> None:
    """A small team: users, a workspace with members, API keys, a refused sign-in."""
    from modelfleet.client import AuthenticationError, ClientSettings, HubClient, Role

    settings = ClientSettings(hub=address, hub_ca=ca_file)
    with HubClient.connect(settings) as admin:
        admin.login("admin", password)
        admin.create_workspace("ml-team", "Fraud models and their deployments")
        for name, display, role in (("alice", "Alice Martin", Role.ADMIN),
                                    ("bob", "Bob Chen", Role.DEVELOPER),
                                    ("carol", "Carol Diaz", Role.VIEWER)):  # fmt: skip
            admin.create_user(name, display_name=display, password=f"{name}-password-1")
            admin.set_member(name, role, workspace="ml-team")
        admin.create_user("dave", display_name="Dave Okafor")
        admin.set_user_disabled("dave", True)
        admin.create_api_key("ci-deploy", Role.DEVELOPER, workspace="ml-team")
        admin.create_api_key("grafana-read", Role.VIEWER, workspace="ml-team")
        old = admin.create_api_key("old-notebook", Role.VIEWER, workspace="ml-team")
        admin.revoke_api_key(old.key.id, workspace="ml-team")
        admin.set_member("carol", Role.DEVELOPER, workspace="ml-team")
        admin.remove_member("carol", workspace="ml-team")
    with HubClient.connect(settings) as client, contextlib.suppress(AuthenticationError):
        client.login("mallory", "guess")


def main(out_dir: Path, address: str, ca_file: str, password: str, data_dir: Path) -> int:
    from PySide6.QtWidgets import QApplication
    from screenshot_app import spin

    from modelfleet.client import FileStore
    from modelfleet.desktop.app import build_desktop
    from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
    from modelfleet.desktop.widgets.theme import apply_theme

    _populate(address, ca_file, password)
    app = QApplication(sys.argv[:1])
    assert app.platformName() == "xcb", app.platformName()
    apply_theme(app)
    service = HubSessionService(FileStore(data_dir / "credentials.json"))
    desktop = build_desktop(session_service=service, profiles=ProfileBook(data_dir / "profiles"))
    desktop.window.resize(1280, 800)
    desktop.window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(widget: object, name: str) -> None:
        path = out_dir / name
        assert widget.grab().save(str(path)), path  # type: ignore[attr-defined]
        saved.append(path)

    dialog = desktop.session_bar.open_sign_in()
    dialog.profile_combo.setCurrentText("team")
    dialog.hub_edit.setText(address)
    dialog.user_edit.setText("admin")
    dialog.password_edit.setText(password)
    spin(300)
    save(dialog, "10-signin.png")
    dialog.submit()
    while dialog.trust_dialog is None:
        spin(50)
    spin(300)
    save(dialog.trust_dialog, "11-signin-trust.png")
    dialog.trust_dialog.accept()
    while desktop.session.signed is None or not desktop.session.workspaces:
        spin(50)
    desktop.session.switch_workspace("ml-team")
    desktop.shell.select_key("admin")
    spin(1500)
    save(desktop.window, "08-admin.png")
    desktop.shell.select_key("audit")
    desktop.audit.verify()
    spin(1500)
    save(desktop.window, "07-audit.png")
    for path in saved:
        print(path)
    desktop.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])))
