"""The suite-wide secret leak check (tests/secret_watch.py) can fail: inner pytest runs in a
subprocess leak a made-up secret through a log record, a log file, an RPC response field and
an RPC error, and the check names each place without printing the secret."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent

INNER = textwrap.dedent(
    """
    import logging
    from concurrent import futures

    import grpc
    import pytest

    from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

    FAKE = "fake-secret-" + "q7Zx3" * 4


    def test_registered_secret_logged(secret_watch):
        secret_watch.register(FAKE, "made-up secret")
        logging.getLogger("modelfleet.leaky").warning("connecting with %s", FAKE)


    def test_secret_written_to_a_log_file(secret_watch, tmp_path):
        secret_watch.register(FAKE, "made-up secret")
        (tmp_path / "hub.log").write_text("line one\\nusing key " + FAKE + "\\n")


    def test_registered_secret_kept_out_of_logs(secret_watch, tmp_path):
        secret_watch.register(FAKE, "made-up secret")
        logging.getLogger("modelfleet.careful").warning("connecting with %s", FAKE[:4] + "...")
        (tmp_path / "hub.log").write_text("nothing to see\\n")


    class ApiKeys(auth_pb2_grpc.ApiKeysServicer):
        def __init__(self):
            self.secret = ""

        def CreateApiKey(self, request, context):
            self.secret = "mfa_" + "k9Pq2" * 6
            key = auth_pb2.ApiKey(id="k1", name=request.name, prefix=self.secret[:8])
            return auth_pb2.CreateApiKeyResponse(key=key, secret=self.secret)

        def ListApiKeys(self, request, context):
            # The bug under test: the secret travels back in a listing.
            return auth_pb2.ListApiKeysResponse(
                keys=[auth_pb2.ApiKey(id="k1", name="ci", prefix=self.secret[:8]),
                      auth_pb2.ApiKey(id="k2", name=self.secret)]
            )

        def RevokeApiKey(self, request, context):
            context.abort(grpc.StatusCode.NOT_FOUND, "no key " + self.secret)


    @pytest.fixture
    def stub():
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        auth_pb2_grpc.add_ApiKeysServicer_to_server(ApiKeys(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield auth_pb2_grpc.ApiKeysStub(channel)
        server.stop(None)


    def test_create_response_is_whitelisted(stub):
        created = stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="ci"))
        assert created.secret.startswith("mfa_")


    def test_listing_leaks_the_key(stub):
        stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="ci"))
        stub.ListApiKeys(auth_pb2.ListApiKeysRequest())


    def test_error_leaks_the_key(stub):
        stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="ci"))
        with pytest.raises(grpc.RpcError):
            stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id="k1"))
    """
)


def _run_inner(tmp_path: Path, *extra: str) -> tuple[int, str]:
    (tmp_path / "test_inner_leaks.py").write_text(INNER)
    paths = (str(TESTS_DIR), os.environ.get("PYTHONPATH", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "secret_watch",
            "-p",
            "no:cacheprovider",
            *(extra or ("-p", "no:rerunfailures", "-p", "no:xdist")),
            # pytest's own report of captured logs would print what the inner tests leak.
            "--show-capture=no",
            "--rootdir",
            str(tmp_path),
            "--basetemp",
            str(tmp_path / "basetemp"),
            str(tmp_path / "test_inner_leaks.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    return result.returncode, result.stdout + result.stderr


def test_leaks_fail_the_run_without_printing_the_secret(tmp_path: Path) -> None:
    code, output = _run_inner(tmp_path)
    assert code == 1, output
    fake = "fake-secret-" + "q7Zx3" * 4
    api_key = "mfa_" + "k9Pq2" * 6
    assert fake not in output and api_key not in output, output
    # All six tests pass; the four that leak fail at teardown.
    assert "6 passed, 4 errors" in output, output
    for test in (
        "test_registered_secret_logged",
        "test_secret_written_to_a_log_file",
        "test_listing_leaks_the_key",
        "test_error_leaks_the_key",
    ):
        assert f"ERROR at teardown of {test}" in output, output
    assert "made-up secret sha256:" in output
    assert "appeared in log record modelfleet.leaky" in output
    assert "appeared in log file hub.log" in output
    assert (
        "API key from /modelfleet.v1.ApiKeys/CreateApiKey sha256:" in output
        and "appeared in response of /modelfleet.v1.ApiKeys/ListApiKeys" in output
        and "field keys.name" in output
    ), output
    assert "appeared in error of /modelfleet.v1.ApiKeys/RevokeApiKey" in output
    assert "field details" in output
    assert "texts scanned" in output and ", 4 findings" in output, output


def test_leaks_are_found_on_xdist_workers_and_again_on_reruns(tmp_path: Path) -> None:
    code, output = _run_inner(tmp_path, "-n", "2", "--reruns", "1")
    assert code == 1, output
    assert "fake-secret-" not in output and "mfa_k9Pq2" not in output, output
    # Each leak is found on the first run and again on its rerun; the controller sums the
    # workers' counts.
    assert "4 errors, 4 rerun" in output, output
    assert ", 8 findings" in output, output
