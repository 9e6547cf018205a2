"""Certificate renewal: a new key and CSR over mutual TLS once 2/3 of the lifetime has passed."""

from __future__ import annotations

import datetime as dt
import logging

import grpc

from modelfleet.agent.node.enrol._identity import DataDir, csr_pem, hostname, new_key
from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc

log = logging.getLogger(__name__)
RENEW_AT_FRACTION = 2 / 3
RENEW_TIMEOUT_S = 15.0


def seconds_until_renewal(folder: DataDir, now: dt.datetime | None = None) -> float:
    """How long until the certificate is due for renewal (<= 0: due now)."""
    start, end = folder.certificate_window()
    due = start + (end - start) * RENEW_AT_FRACTION
    return (due - (now or dt.datetime.now(dt.UTC))).total_seconds()


async def renew_certificate(folder: DataDir, channel: grpc.aio.Channel) -> None:
    """Ask the hub for a certificate on a fresh key; both replace the old ones atomically."""
    key = new_key()
    request = fleet_pb2.RenewCertificateRequest(csr_pem=csr_pem(key, hostname()))
    stub = fleet_pb2_grpc.EnrollmentStub(channel)
    response = await stub.RenewCertificate(request, timeout=RENEW_TIMEOUT_S)
    folder.save_credentials(key, response.certificate_pem)
    _, end = folder.certificate_window()
    log.info("[Enrollment.RenewCertificate] new certificate valid until %s", end.isoformat())
