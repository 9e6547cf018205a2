"""Hub-signed access tokens: Ed25519 (EdDSA) JWTs, issued by the hub, verified anywhere.

Verification needs only the hub's public key, so agents can check hub-signed tokens
without a database. Needs PyJWT (in the `agent` extra).
"""

from modelfleet.tokens._access import (
    AccessClaims,
    TokenError,
    TokenSigner,
    TokenVerifier,
    key_id,
)

__all__ = ["AccessClaims", "TokenError", "TokenSigner", "TokenVerifier", "key_id"]
