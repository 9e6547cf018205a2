"""Agent enrolment: join with a token, keep key and certificate in the data dir, renew them."""

from modelfleet.agent.node.enrol._identity import (
    CREDENTIALS_FILE,
    SERVING_CA_FILE,
    SERVING_FILE,
    DataDir,
    Enrolment,
    NotEnrolled,
    hostname,
)
from modelfleet.agent.node.enrol._join import EnrolError, join
from modelfleet.agent.node.enrol._renew import renew_certificate, seconds_until_renewal

__all__ = [
    "CREDENTIALS_FILE",
    "SERVING_CA_FILE",
    "SERVING_FILE",
    "DataDir",
    "EnrolError",
    "Enrolment",
    "NotEnrolled",
    "hostname",
    "join",
    "renew_certificate",
    "seconds_until_renewal",
]
