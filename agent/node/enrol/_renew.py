"""Certificate renewal: new keys and CSRs over mutual TLS once 2/3 of the lifetime has passed
(the client certificate and, if the agent has one, the serving certificate)."""

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
    serving_key = None
    if serving := folder.serving_certificate():
        # The hub re-issues exactly the names the current certificate carries.
        serving_key = new_key()
        request.serving_csr_pem = csr_pem(serving_key, hostname())
        request.serving_certificate_pem = serving
    stub = fleet_pb2_grpc.EnrollmentStub(channel)
    response = await stub.RenewCertificate(request, timeout=RENEW_TIMEOUT_S)
    if serving_key is not None and response.serving_certificate_pem:
        folder.save_serving(serving_key, response.serving_certificate_pem, response.serving_ca_pem)
    elif serving_key is not None:
        log.warning(
            "[Enrollment.RenewCertificate] the hub did not renew the serving certificate "
            "(issued by another serving CA?); the current one stays until it expires"
        )
    folder.save_credentials(key, response.certificate_pem)
    _, end = folder.certificate_window()
    log.info("[Enrollment.RenewCertificate] new certificate valid until %s", end.isoformat())
