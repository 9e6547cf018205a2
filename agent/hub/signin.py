"""Sign-in security wired into a server: SSO, MFA and IP allow-list servicers and guards."""

from __future__ import annotations

import grpc

from modelfleet.agent.hub.access.interceptor import CallGuard
from modelfleet.agent.hub.access.netpolicy import NetworkGuard
from modelfleet.agent.hub.alerts.outbound import OutboundPolicy, parse_networks
from modelfleet.agent.hub.mfa.policy import MfaGuard
from modelfleet.agent.hub.mfa.service import MfaServicer
from modelfleet.agent.hub.services.network import NetworkPolicyServicer
from modelfleet.agent.hub.sso.http import IdpHttp
from modelfleet.agent.hub.sso.oidc import OidcDirectory
from modelfleet.agent.hub.sso.service import SsoServicer
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2_grpc


class SignInSecurity:
    """One per server: the guards go to the interceptor, the servicers to the server."""

    def __init__(self, hub: HubState) -> None:
        settings = hub.settings
        self.networks = NetworkGuard(hub.db, settings.workspace_cache_ttl)
        self.mfa = MfaGuard(hub.db, settings.workspace_cache_ttl)
        # Issuer URLs are admin input: they go through the same SSRF policy as webhooks.
        policy = OutboundPolicy(parse_networks(settings.outbound_allowed_networks))
        self.directory = OidcDirectory(
            IdpHttp(policy, settings.outbound_timeout), settings.sso_cache_ttl
        )
        self._hub = hub

    @property
    def guards(self) -> tuple[CallGuard, ...]:
        # The network check first: an off-list address learns nothing about MFA policy.
        return (self.networks, self.mfa)

    def add_to(self, server: grpc.aio.Server) -> None:
        hub = self._hub
        auth_pb2_grpc.add_SsoServicer_to_server(SsoServicer(hub, self.directory), server)
        auth_pb2_grpc.add_MfaServicer_to_server(MfaServicer(hub, self.mfa), server)
        auth_pb2_grpc.add_NetworkPolicyServicer_to_server(
            NetworkPolicyServicer(hub, self.networks), server
        )
