"""Suite-wide secret leak check: no secret the tests create may show up in a log, an audit
row, an RPC response or error, or a notification payload.

Registered from the top-level conftest (`pytest_plugins`); `-p no:secret_watch` turns it off.

Secrets are collected from
- every gRPC call made in the test process: all channels made with `grpc.secure_channel` /
  `grpc.insecure_channel` (tests, SDK, CLI run in-process) are wrapped with a client
  interceptor. Request fields named like secrets (`password`, `secret`, `client_secret`,
  `token`, ...) are registered; so are the response fields that legitimately carry a new
  secret once (`RESPONSE_SECRETS`: CreateApiKey's `secret`, Login's tokens, EnrollTotp's
  secret, ...);
- fixture values with `admin_password` / `password` / `token` / `secret` attributes;
- files the fixtures write under the tests' temporary folders: password files, `*.token`,
  the hub's key files (`keys/`, `*.key`);
- `secret_watch.register(value, kind)` (fixture `secret_watch`) for anything else.

Texts scanned:
- log files (`*.log`, `*.stderr`, `*.stdout`, `*.out`, `*.err`) under the tests' temporary
  folders (hub and agent processes; their `logging.basicConfig(level=INFO)` is raised to DEBUG
  through a `sitecustomize` on PYTHONPATH that only acts when MODELFLEET_TEST_DEBUG_LOGS=1);
- log records emitted in the test process (in-process hubs; `modelfleet` loggers at DEBUG);
- every gRPC response message (all string and bytes fields, minus the whitelisted secret
  fields of that method) and every error's status details and trailing metadata;
- audit rows (`audit_events`) of every hub database: SQLite `hub.db` files under the
  temporary folders and the PostgreSQL databases of `postgres_db_url` before they are dropped;
- texts handed to `record_text` (the alert receivers' captured payloads).

Scanning happens at each test's teardown (after its fixtures are finalised, so process logs
are flushed); folders of wider-scoped fixtures are rescanned incrementally at the end of each
module. A finding fails the teardown of that test, naming the kind of secret, where it was
created and a short sha256 of it - never the secret itself. Works per xdist worker; counters
are summed by the controller for the terminal summary.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

MIN_SECRET_LEN = 8
MAX_SECRET_LEN = 4096
MIN_DISTINCT_CHARS = 5
VALUE_CAP = 64 * 1024  # characters of one string field / log record kept for scanning
BYTES_CAP = 4 * 1024  # bytes of one bytes field (model chunks are not interesting)
RESPONSE_CAP = 256 * 1024
PENDING_CAP = 4 * 1024 * 1024  # scan early when this much text is waiting
FILE_READ_CAP = 32 * 1024 * 1024  # bytes of one log file scanned per test

LOG_SUFFIXES = (".log", ".stderr", ".stdout", ".out", ".err")
SITE_DIR = Path(__file__).resolve().parent / "secret_watch_site"

# Request fields that carry a secret the caller chose or holds.
REQUEST_SECRET_FIELDS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "secret",
        "client_secret",
        "refresh_token",
        "access_token",
        "token",
        "code_verifier",
    }
)

# The only response fields allowed to carry a secret: the call that creates it, once.
# Keyed by full method name; values map a field path to the kind of secret.
RESPONSE_SECRETS: dict[str, dict[str, str]] = {
    "/modelfleet.v1.Auth/Login": {
        "access_token": "access token",
        "refresh_token": "refresh token",
    },
    "/modelfleet.v1.Auth/Refresh": {
        "access_token": "access token",
        "refresh_token": "refresh token",
    },
    "/modelfleet.v1.Sso/CompleteSsoLogin": {
        "access_token": "access token",
        "refresh_token": "refresh token",
    },
    "/modelfleet.v1.Sso/PollDeviceLogin": {
        "tokens.access_token": "access token",
        "tokens.refresh_token": "refresh token",
    },
    "/modelfleet.v1.ApiKeys/CreateApiKey": {"secret": "API key"},
    "/modelfleet.v1.Mfa/EnrollTotp": {"secret": "TOTP secret", "otpauth_uri": "TOTP secret"},
    "/modelfleet.v1.Mfa/ConfirmTotp": {"codes": "recovery code"},
    "/modelfleet.v1.Mfa/RegenerateRecoveryCodes": {"codes": "recovery code"},
    "/modelfleet.v1.Users/CreateUser": {"one_time_password": "one-time password"},
    "/modelfleet.v1.Users/ResetPassword": {"one_time_password": "one-time password"},
    "/modelfleet.v1.Fleet/CreateJoinToken": {"token": "join token"},
    "/modelfleet.v1.Deployments/CreateInferenceKey": {"secret": "inference key"},
}

_TOKENISH = re.compile(r"[A-Za-z0-9+/=_\-.~]{16,}")


def short_hash(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _Origin:
    kind: str
    where: str


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex for many literals: a trie, so each position is tried against a few first
    characters instead of every word (linear-ish, unlike a flat alternation)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alternatives = []
        for ch in sorted(k for k in node if k):
            child = node[ch]
            run = ch
            while len(child) == 1 and "" not in child:
                ((nxt, child),) = child.items()
                run += nxt
            alternatives.append(re.escape(run) + emit(child))
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


class SecretIndex:
    """The registered secrets and a fast matcher: a compiled trie regex over most of them plus
    a short list of recent ones checked with `in`, merged geometrically."""

    def __init__(self) -> None:
        self.origins: dict[str, _Origin] = {}
        self._compiled: re.Pattern[str] | None = None
        self._compiled_count = 0
        self._recent: list[str] = []

    def add(self, value: str, origin: _Origin) -> bool:
        if value in self.origins:
            return False
        self.origins[value] = origin
        self._recent.append(value)
        if len(self._recent) >= max(64, self._compiled_count // 4):
            self._compiled = re.compile(_trie_pattern(self.origins))
            self._compiled_count = len(self.origins)
            self._recent = []
        return True

    def find(self, text: str) -> set[str]:
        found: set[str] = set()
        if self._compiled is not None:
            for match in self._compiled.finditer(text):
                found.add(match.group(0))
        for value in self._recent:
            if value in text:
                found.add(value)
        # A matched prefix of a longer secret may itself not be registered.
        return {v for v in found if v in self.origins}


@dataclass
class Counters:
    secrets: int = 0
    texts: int = 0
    chars: int = 0
    findings: int = 0
    seconds: float = 0.0  # spent by the watch itself: interceptor, walking, scanning
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "secrets": self.secrets,
            "texts": self.texts,
            "chars": self.chars,
            "findings": self.findings,
            "seconds": self.seconds,
            "by_source": dict(self.by_source),
        }

    def add(self, counts: dict[str, Any]) -> None:
        self.secrets += counts["secrets"]
        self.texts += counts["texts"]
        self.chars += counts["chars"]
        self.findings += counts["findings"]
        self.seconds += counts["seconds"]
        for source, n in counts["by_source"].items():
            self.by_source[source] = self.by_source.get(source, 0) + n


def _source(where: str) -> str:
    """The kind of text from its description: "response", "log file", "audit row", ..."""
    for prefix in ("log file", "log record", "response", "error", "audit row"):
        if where.startswith(prefix):
            return prefix
    return "captured payload"


@dataclass
class SecretWatch:
    index: SecretIndex = field(default_factory=SecretIndex)
    counters: Counters = field(default_factory=Counters)
    current_test: str = "(collection)"
    _pending: list[tuple[str, str]] = field(default_factory=list)
    _pending_chars: int = 0
    _findings: list[str] = field(default_factory=list)
    _offsets: dict[Path, int] = field(default_factory=dict)
    _audit_seen: dict[str, int] = field(default_factory=dict)
    _test_dirs: list[Path] = field(default_factory=list)
    _shared_dirs: list[Path] = field(default_factory=list)
    _test_shared_dirs: list[Path] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- secrets ---------------------------------------------------------------------------

    def register(self, value: str, kind: str, where: str | None = None) -> None:
        value = value.strip()
        if not MIN_SECRET_LEN <= len(value) <= MAX_SECRET_LEN:
            return
        if len(set(value)) < MIN_DISTINCT_CHARS:
            # "x" * 12 sent as a password by a refusal test is not a secret; matching it
            # would find every corpus string made of x's.
            return
        with self._lock:
            if self.index.add(value, _Origin(kind, where or self.current_test)):
                self.counters.secrets += 1

    def register_file(self, path: Path) -> None:
        try:
            text = path.read_bytes()[: MAX_SECRET_LEN * 4].decode("utf-8", "replace")
        except OSError:
            return
        kind = f"secret file {path.name}"
        stripped = text.strip()
        if "\n" not in stripped:
            self.register(stripped, kind, f"{self.current_test} ({path.name})")
        for run in _TOKENISH.findall(text):
            if len(run) >= 24 and not run.startswith("-----"):
                self.register(run, kind, f"{self.current_test} ({path.name})")

    # --- texts -----------------------------------------------------------------------------

    def record(self, where: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._pending.append((where, text))
            self._pending_chars += len(text)
            if self._pending_chars > PENDING_CAP:
                self.scan_pending()

    def scan_pending(self) -> None:
        with self._lock:
            pending, self._pending, self._pending_chars = self._pending, [], 0
            for where, text in pending:
                self._scan(where, text)

    def _scan(self, where: str, text: str) -> None:
        self.counters.texts += 1
        self.counters.chars += len(text)
        source = _source(where)
        self.counters.by_source[source] = self.counters.by_source.get(source, 0) + 1
        for value in self.index.find(text):
            origin = self.index.origins[value]
            place = where
            at = text.find(value)
            line_start = text.rfind("\n", 0, at) + 1
            if "\x1f" in text[line_start:at]:
                place += ", field " + text[line_start : text.index("\x1f", line_start)]
            self._findings.append(
                f"{origin.kind} {short_hash(value)} (created in {origin.where}) appeared in {place}"
            )
            self.counters.findings += 1

    # --- files and databases ---------------------------------------------------------------

    def _walk(self, roots: Iterable[Path]) -> None:
        logs: list[Path] = []
        dbs: list[Path] = []
        for root in roots:
            for folder, _dirs, files in os.walk(root):
                base = Path(folder)
                for name in files:
                    path = base / name
                    if name.endswith(LOG_SUFFIXES):
                        logs.append(path)
                    elif name == "hub.db":
                        dbs.append(path)
                    elif (
                        name.endswith((".token", ".key", ".keyring"))
                        or "password" in name
                        or base.name == "keys"
                    ):
                        self.register_file(path)
        for path in logs:
            self._scan_log(path)
        for path in dbs:
            self._scan_sqlite_audit(path)

    def _scan_log(self, path: Path) -> None:
        start = self._offsets.get(path, 0)
        try:
            size = path.stat().st_size
            if size <= start:
                return
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read(min(size - start, FILE_READ_CAP))
        except OSError:
            return
        self._offsets[path] = start + len(data)
        self._scan(f"log file {path.name} ({self.current_test})", data.decode("utf-8", "replace"))

    def _scan_audit_rows(self, key: str, label: str, rows: Iterable[tuple[Any, ...]]) -> None:
        seen = self._audit_seen.get(key, 0)
        count = 0
        for count, row in enumerate(rows, start=1):
            if count > seen:
                self._scan(f"audit row {count} of {label}", " ".join(map(str, row)))
        self._audit_seen[key] = max(seen, count)

    def _scan_sqlite_audit(self, path: Path) -> None:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return
        try:
            rows = conn.execute("SELECT * FROM audit_events ORDER BY 1").fetchall()
        except sqlite3.Error:
            return
        finally:
            conn.close()
        self._scan_audit_rows(str(path), f"{path.parent.name}/hub.db ({self.current_test})", rows)

    def scan_postgres_audit(self, url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        try:
            with psycopg.connect(
                host=parsed.host,
                port=parsed.port or 5432,
                user=parsed.username,
                dbname=parsed.database,
                connect_timeout=5,
            ) as conn:
                rows = conn.execute("SELECT * FROM audit_events ORDER BY 1").fetchall()
        except psycopg.Error:
            return
        with self._lock:
            self._scan_audit_rows(
                url, f"PostgreSQL database {parsed.database} ({self.current_test})", rows
            )

    # --- per test --------------------------------------------------------------------------

    def start_test(self, nodeid: str) -> None:
        with self._lock:
            self.current_test = nodeid
            self._test_dirs = []
            self._test_shared_dirs = []
            self._findings = []

    def add_test_dir(self, path: Path) -> None:
        self._test_dirs.append(path)

    def add_shared_dir(self, path: Path) -> None:
        self._shared_dirs.append(path)
        self._test_shared_dirs.append(path)

    def finish_test(self, end_of_module: bool) -> list[str]:
        started = time.perf_counter()
        with self._lock:
            roots = list(self._test_dirs) + list(self._test_shared_dirs)
            if end_of_module:
                roots += [d for d in self._shared_dirs if d not in roots]
            self._walk(r for r in roots if r.exists())
            self.scan_pending()
            findings, self._findings = self._findings, []
            self.counters.seconds += time.perf_counter() - started
            if end_of_module:
                # Done with these files: forget offsets of the per-test folders.
                self._offsets = {
                    p: o
                    for p, o in self._offsets.items()
                    if any(p.is_relative_to(d) for d in self._shared_dirs)
                }
            return findings


WATCH = SecretWatch()


def register_secret(value: str, kind: str) -> None:
    """For test utilities: a secret made outside the channels the watch sees."""
    WATCH.register(value, kind)


def record_text(where: str, text: str | bytes) -> None:
    """For test utilities: a text that must not contain any secret (a captured payload)."""
    if isinstance(text, bytes):
        text = text[:RESPONSE_CAP].decode("utf-8", "replace")
    WATCH.record(f"{where} ({WATCH.current_test})", text[:RESPONSE_CAP])


# --- gRPC ------------------------------------------------------------------------------------


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _leaves(message: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) of every string and bytes value, recursively."""
    for fd, value in message.ListFields():
        path = prefix + fd.name
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_map(fd):
                for key, item in value.items():
                    yield path, str(key)
                    if isinstance(item, Message):
                        yield from _leaves(item, path + ".")
                    elif isinstance(item, str | bytes):
                        yield path, _as_text(item)
            elif fd.is_repeated:
                for item in value:
                    yield from _leaves(item, path + ".")
            else:
                yield from _leaves(value, path + ".")
        elif fd.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            for item in value if fd.is_repeated else (value,):
                yield path, _as_text(item)


def _as_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value[:BYTES_CAP].decode("latin-1")
    return value[:VALUE_CAP]


def _on_request(method: str, request: Any) -> None:
    if not isinstance(request, Message):
        return
    started = time.perf_counter()
    for path, value in _leaves(request):
        if path.rsplit(".", 1)[-1] in REQUEST_SECRET_FIELDS:
            WATCH.register(value, f"{path} sent to {method}")
    WATCH.counters.seconds += time.perf_counter() - started


def _on_response(method: str, response: Any) -> None:
    if not isinstance(response, Message):
        return
    started = time.perf_counter()
    allowed = RESPONSE_SECRETS.get(method, {})
    lines = []
    size = 0
    for path, value in _leaves(response):
        kind = allowed.get(path)
        if kind is not None:
            WATCH.register(value, f"{kind} from {method}")
            continue
        lines.append(f"{path}\x1f{value}")
        size += len(value)
        if size > RESPONSE_CAP:
            break
    if lines:
        WATCH.record(f"response of {method} ({WATCH.current_test})", "\n".join(lines))
    WATCH.counters.seconds += time.perf_counter() - started


def _on_error(method: str, error: BaseException) -> None:
    if not isinstance(error, grpc.Call):
        return
    parts = [f"details\x1f{error.details() or ''}"]
    for key, value in error.trailing_metadata() or ():
        parts.append(f"trailer {key}\x1f{_as_text(value)}")
    WATCH.record(f"error of {method} ({WATCH.current_test})", "\n".join(parts))


class _ResponseStream:
    """A response iterator that records each message; everything else is the call's."""

    def __init__(self, method: str, call: Any) -> None:
        self._method = method
        self._call = call

    def __iter__(self) -> _ResponseStream:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._call)
        except grpc.RpcError as exc:
            _on_error(self._method, exc)
            raise
        _on_response(self._method, item)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _Interceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    @staticmethod
    def _watch_future(method: str, outcome: Any) -> Any:
        def done(future: Any) -> None:
            try:
                error = future.exception()
                if error is not None:
                    _on_error(method, error)
                else:
                    _on_response(method, future.result())
            except Exception:  # cancelled calls and the like: nothing to scan
                return

        outcome.add_done_callback(done)
        return outcome

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        _on_request(details.method, request)
        return self._watch_future(details.method, continuation(details, request))

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        _on_request(details.method, request)
        return _ResponseStream(details.method, continuation(details, request))

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return self._watch_future(details.method, continuation(details, requests))

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return _ResponseStream(details.method, continuation(details, requests))


_INTERCEPTOR = _Interceptor()


def _wrap_channel_factory(factory: Callable[..., grpc.Channel]) -> Callable[..., grpc.Channel]:
    def make(*args: Any, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(factory(*args, **kwargs), _INTERCEPTOR)

    make.__wrapped__ = factory  # type: ignore[attr-defined]
    return make


# --- logging in the test process -------------------------------------------------------------


class _RecordHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a broken record is the logger's problem
            return
        WATCH.record(f"log record {record.name} ({WATCH.current_test})", text[:VALUE_CAP])


# --- pytest hooks ----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    grpc.secure_channel = _wrap_channel_factory(grpc.secure_channel)
    grpc.insecure_channel = _wrap_channel_factory(grpc.insecure_channel)
    handler = _RecordHandler(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger("modelfleet").setLevel(logging.DEBUG)
    os.environ["MODELFLEET_TEST_DEBUG_LOGS"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SITE_DIR), os.environ.get("PYTHONPATH", "")) if p
    )
    original_mktemp = pytest.TempPathFactory.mktemp

    def mktemp(self: pytest.TempPathFactory, basename: str, numbered: bool = True) -> Path:
        path = original_mktemp(self, basename, numbered)
        WATCH.add_shared_dir(path)
        return path

    pytest.TempPathFactory.mktemp = mktemp  # type: ignore[method-assign]
    config._secret_watch_totals = Counters()  # type: ignore[attr-defined]


@pytest.fixture
def secret_watch() -> SecretWatch:
    """The watch: `secret_watch.register(value, kind)` for secrets made by other means."""
    return WATCH


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    result = yield
    name = fixturedef.argname
    if name == "tmp_path" and isinstance(result, Path):
        if request.scope == "function":
            WATCH.add_test_dir(result)
            # tmp_path is made through mktemp: do not rescan it at every module end.
            if result in WATCH._shared_dirs:
                WATCH._shared_dirs.remove(result)
                WATCH._test_shared_dirs.remove(result)
    elif name == "postgres_db_url" and isinstance(result, str):
        fixturedef.addfinalizer(lambda: WATCH.scan_postgres_audit(result))
    else:
        for attr in ("admin_password", "password", "token", "secret"):
            value = getattr(result, attr, None)
            if isinstance(value, str):
                WATCH.register(value, f"{attr} of fixture {name}")
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    WATCH.start_test(item.nodeid)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    end_of_module = nextitem is None or nextitem.path != item.path
    try:
        result = yield
    except BaseException:
        WATCH.finish_test(end_of_module)
        raise
    findings = WATCH.finish_test(end_of_module)
    if findings:
        lines = "\n".join(f"  - {f}" for f in findings[:50])
        more = f"\n  ... and {len(findings) - 50} more" if len(findings) > 50 else ""
        pytest.fail(f"secret leak check: {len(findings)} finding(s)\n{lines}{more}", pytrace=False)
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["secret_watch"] = WATCH.counters.as_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    counts = getattr(node, "workeroutput", {}).get("secret_watch")
    totals = getattr(getattr(node, "config", None), "_secret_watch_totals", None)
    if counts and totals is not None:
        totals.add(counts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals: Counters = config._secret_watch_totals  # type: ignore[attr-defined]
    if totals.texts == 0:
        totals = WATCH.counters
    terminalreporter.write_line(
        f"secret watch: {totals.secrets} secrets registered, {totals.texts} texts scanned "
        f"({totals.chars / 1e6:.1f} M characters), {totals.findings} findings, "
        f"{totals.seconds:.1f} s spent checking"
    )
    if totals.by_source:
        terminalreporter.write_line(
            "secret watch texts by source: "
            + ", ".join(f"{k} {v}" for k, v in sorted(totals.by_source.items()))
        )
