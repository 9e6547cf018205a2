"""The hub CLI fails with one readable line and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from modelfleet.cli import main
from tests.client.tls_server import make_pki, tls_server


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["whoami"],
        ["workspaces", "list"],
        ["users", "list"],
        ["api-keys", "list"],
        ["audit", "verify"],
    ],
)
def test_commands_before_login_say_so(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 1
    assert err.startswith("modelfleet: error: not logged in")
    assert "Traceback" not in err and err.count("\n") == 1


def test_login_needs_a_hub_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["login", "--user", "ada", "--password-stdin"], capsys)
    assert code == 2 and "--hub HOST:PORT" in err


def test_login_with_a_malformed_pin_names_the_expectation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        ["login", "--hub", "127.0.0.1:1", "--hub-ca", "sha256:xyz", "--user", "a"], capsys
    )
    assert code == 1 and "sha256:<64 hex digits>" in err and "Traceback" not in err


def test_login_refuses_a_hub_with_another_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    expected, impostor = make_pki("hub"), make_pki("impostor")
    with tls_server(impostor) as address:
        code, _, err = run(
            ["login", "--hub", address, "--hub-ca", expected.fingerprint, "--user", "a"], capsys
        )
    assert code == 1
    assert "presented no certificate with fingerprint" in err


def test_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["workspaces", "add-member", "bo", "--role", "owner"], capsys)
    assert code == 2 and "role must be one of viewer, developer, admin" in err


def test_bad_time_filter_names_the_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELFLEET_API_KEY", "mfk_unused")
    monkeypatch.setenv("MODELFLEET_HUB", "127.0.0.1:1")
    code, _, err = run(["audit", "query", "--since", "last tuesday"], capsys)
    assert code == 2 and "--since must be an ISO 8601 time" in err
