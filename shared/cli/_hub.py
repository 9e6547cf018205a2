"""What the hub command groups share: common options, building a client, output, errors."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from modelfleet.cli._common import CliError, print_json, print_table
from modelfleet.client import (
    ClientSettings,
    CredentialStore,
    HubClient,
    ModelfleetError,
    Profile,
    Role,
    StoredTokens,
    TokenPair,
    account_name,
    default_store,
    load_profile,
)

Handler = Callable[[argparse.Namespace], int]


def hub_options(*, workspace: bool = False) -> argparse.ArgumentParser:
    """A parent parser with the options every hub command takes."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("hub connection")
    group.add_argument("--hub", metavar="HOST:PORT", help="hub address (default: saved login)")
    group.add_argument(
        "--hub-ca",
        metavar="PATH|sha256:HEX",
        help="trust the hub by its CA file or pinned CA fingerprint (default: saved login)",
    )
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline of each call")
    if workspace:
        group.add_argument(
            "-w", "--workspace", help="workspace name or id (default: `workspaces use`)"
        )
    parent.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parent


def hub_command(handler: Handler) -> Handler:
    """Turn client errors into one readable line and a non-zero exit (no traceback)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ModelfleetError as exc:
            raise CliError(str(exc)) from exc
        except ValueError as exc:  # a malformed argument value found past argparse
            raise CliError(str(exc), exit_code=2) from exc

    return run


@dataclasses.dataclass
class Connection:
    """A client plus where its login lives, so handlers can update the profile."""

    client: HubClient
    settings: ClientSettings
    profile: Profile
    store: CredentialStore | None


def settings_from(args: argparse.Namespace, profile: Profile, **overrides: Any) -> ClientSettings:
    """Flags beat MODELFLEET_* variables beat the saved profile (only for the saved hub)."""
    settings = ClientSettings.from_env(
        hub=getattr(args, "hub", None),
        hub_ca=getattr(args, "hub_ca", None),
        workspace=getattr(args, "workspace", None),
        timeout=getattr(args, "timeout", None),
        **overrides,
    )
    if settings.hub is None or settings.hub == profile.hub:
        settings = settings.with_defaults(
            hub=profile.hub, hub_ca=profile.hub_ca, workspace=profile.workspace
        )
    return settings


def token_saver(store: CredentialStore, account: str) -> Callable[[TokenPair], None]:
    def save(pair: TokenPair) -> None:
        store.save(
            account, StoredTokens(pair.refresh_token, pair.access_token, pair.access_expires_at)
        )

    return save


def connect(args: argparse.Namespace, *, workspace: bool = True) -> Connection:
    """A client signed in as the saved user, or with MODELFLEET_API_KEY when set."""
    profile = load_profile()
    settings = settings_from(args, profile)
    if not workspace:
        settings = dataclasses.replace(settings, workspace=None)
    store: CredentialStore | None = None
    tokens: StoredTokens | None = None
    on_tokens = None
    if settings.api_key is None:
        if not profile.username or not profile.hub or settings.hub != profile.hub:
            raise CliError(
                "not logged in to this hub: run `modelfleet login` (or set MODELFLEET_API_KEY)"
            )
        store = default_store(announce=False)
        account = account_name(profile.hub, profile.username)
        tokens = store.load(account)
        if tokens is None:
            raise CliError("not logged in: run `modelfleet login`")
        on_tokens = token_saver(store, account)
    client = HubClient.connect(settings, tokens=tokens, on_tokens=on_tokens)
    return Connection(client, settings, profile, store)


def plain(value: Any) -> Any:
    """Dataclasses and named tuples as JSON-ready dicts (datetimes in ISO 8601 UTC, roles as
    names)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    return value


def show(args: argparse.Namespace, items: Iterable[Any], columns: Sequence[str]) -> None:
    """A table of `columns` by default; every field as JSON with --json."""
    rows = [plain(item) for item in items]
    if args.json:
        print_json(rows)
        return
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and value.endswith("Z") and "T" in value:
                row[key] = value[:19].replace("T", " ")  # tables show seconds, UTC
    print_table(rows, columns)


def show_one(args: argparse.Namespace, item: Any, columns: Sequence[str]) -> None:
    if args.json:
        print_json(plain(item))
    else:
        show(args, [item], columns)


def read_secret(prompt: str, *, from_stdin: bool) -> str:
    """A password from stdin (first line) or an interactive prompt; never from argv."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        secret = getpass.getpass(prompt)
    if not secret:
        raise CliError("empty password")
    return secret


def role_arg(text: str) -> Role:
    """argparse type for a role, with the accepted names in the error."""
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601; a time without offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option} must be an ISO 8601 time like 2026-01-31T12:00:00Z, got {text!r}",
            exit_code=2,
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
