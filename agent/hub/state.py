"""Everything a running hub shares: database, keys, caches; built from a data directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelfleet._version import __version__
from modelfleet.agent.hub import pki
from modelfleet.agent.hub.access.authenticate import Authenticator
from modelfleet.agent.hub.access.throttle import LoginThrottle
from modelfleet.agent.hub.blobs import BlobStore, KeyringFile, LocalBlobStore
from modelfleet.agent.hub.datadir import DataDirError, HubPaths, load_config
from modelfleet.agent.hub.db import Database, current_revision, head_revision, make_engine
from modelfleet.agent.hub.passwords import Passwords
from modelfleet.agent.hub.secrets import SecretBox, load_secret_box
from modelfleet.agent.hub.sessions import Sessions
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.tokens import TokenSigner, TokenVerifier, key_id

if TYPE_CHECKING:
    from modelfleet.agent.hub.alerts.runtime import AlertsRuntime
    from modelfleet.agent.hub.fleet.runtime import FleetRuntime


@dataclass
class HubState:
    db: Database
    settings: HubSettings
    authenticator: Authenticator
    sessions: Sessions
    throttle: LoginThrottle
    passwords: Passwords
    verifier: TokenVerifier
    ca_pem: bytes
    ca_fingerprint: str
    version: str = __version__
    # Artifact bytes, and the key that signs model manifests (the hub's Ed25519 key).
    blobs: BlobStore | None = None
    manifest_key: Ed25519PrivateKey | None = None
    # The CA key signs agent certificates; the fleet runtime is built with the server.
    ca_key: ec.EllipticCurvePrivateKey | None = None
    fleet: FleetRuntime | None = None
    # The serving CA signs agents' TLS server certificates (names from their join tokens).
    serving_ca_key: ec.EllipticCurvePrivateKey | None = None
    serving_ca_pem: bytes = b""
    # Channel secrets are sealed with this; the alerts runtime is built with the server.
    secrets: SecretBox | None = None
    alerts: AlertsRuntime | None = None

    @classmethod
    def build(
        cls,
        db: Database,
        signing_key: Ed25519PrivateKey,
        ca_pem: bytes,
        settings: HubSettings | None = None,
        blobs: BlobStore | None = None,
        ca_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> HubState:
        s = settings or HubSettings()
        public = signing_key.public_key()
        verifier = TokenVerifier({key_id(public): public})
        return cls(
            db=db,
            settings=s,
            authenticator=Authenticator(db, verifier, s),
            sessions=Sessions(TokenSigner(signing_key), s),
            throttle=LoginThrottle(s),
            passwords=Passwords(s),
            verifier=verifier,
            ca_pem=ca_pem,
            ca_fingerprint=pki.fingerprint(ca_pem),
            blobs=blobs,
            manifest_key=signing_key,
            ca_key=ca_key,
        )

    @classmethod
    def open(cls, paths: HubPaths, settings: HubSettings | None = None) -> HubState:
        """The state of an initialised data directory whose schema is current."""
        config = load_config(paths)
        engine = make_engine(config.db_url)
        if current_revision(engine) != head_revision():
            engine.dispose()
            raise DataDirError("the database schema is not current; run `modelfleet hub init`")
        state = cls.build(
            Database(engine),
            pki.load_signing_key(paths.signing_key),
            paths.ca_cert.read_bytes(),
            settings,
            # Both keyrings follow their files: `hub rotate-keys` needs no restart.
            LocalBlobStore(paths.blobs, KeyringFile(paths.blob_keyring)),
            _load_ca_key(paths),
        )
        state.secrets = load_secret_box(paths.secrets_keyring)
        try:
            state.serving_ca_key, state.serving_ca_pem = pki.load_serving_ca(paths)
        except ValueError as exc:
            raise DataDirError(str(exc)) from None
        return state


def _load_ca_key(paths: HubPaths) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DataDirError(f"{paths.ca_key.name}: expected an EC private key")
    return key
