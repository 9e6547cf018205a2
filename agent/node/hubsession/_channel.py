"""The agent's mutual-TLS channel to the hub's agent port, with keepalive."""

from __future__ import annotations

import grpc

from modelfleet.agent.node.enrol import DataDir

KEEPALIVE_TIME_MS = 20_000
KEEPALIVE_TIMEOUT_MS = 10_000

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 16 << 20),
    # Back-off is the session's own (jittered); gRPC's reconnect delay would add to it.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def mtls_channel(folder: DataDir, target: str) -> grpc.aio.Channel:
    """A channel presenting the agent's certificate and trusting only the hub CA."""
    key, certificate = folder.credentials()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=folder.ca_pem(), private_key=key, certificate_chain=certificate
    )
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
