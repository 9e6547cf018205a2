"""Provider settings: presets (Google, Microsoft Entra ID, Okta), checks, and their messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.db import Workspace
from modelfleet.agent.hub.db.security_models import SsoProviderRow
from modelfleet.agent.hub.errors import InvalidArgument, NotFound
from modelfleet.agent.hub.services import convert
from modelfleet.proto.v1 import auth_pb2

DEFAULT_SCOPES = "openid email profile"
PRESETS = ("google", "microsoft", "okta")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_TENANT = re.compile(r"[0-9a-fA-F-]{36}|[a-z0-9.-]{3,128}")
# Multi-tenant endpoints: their tokens carry each tenant's own issuer, which cannot be pinned.
_SHARED_TENANTS = {"common", "organizations", "consumers"}
_MAX_RULES = 100
_MAX_SECRET = 1024


@dataclass(frozen=True, slots=True)
class CheckedSpec:
    name: str
    display_name: str
    preset: str
    tenant: str
    issuer: str
    client_id: str
    scopes: str
    allowed_domains: list[str]
    role_mappings: list[dict[str, Any]]
    jit_user_creation: bool
    disabled: bool


def check_spec(s: Session, spec: auth_pb2.SsoProviderSpec) -> CheckedSpec:
    """`spec` with the preset applied, or INVALID_ARGUMENT naming the first bad field."""
    name = validation.name("spec.name", spec.name)
    validation.text("spec.display_name", spec.display_name, 128)
    preset = spec.preset.strip().lower()
    if preset and preset not in PRESETS:
        raise InvalidArgument("spec.preset", f"empty or one of {', '.join(PRESETS)}", preset[:32])
    tenant = spec.tenant.strip()
    issuer = _issuer(preset, tenant, spec.issuer.strip())
    client_id = validation.required("spec.client_id", spec.client_id.strip(), "the client id")
    validation.text("spec.client_id", client_id, 256)
    scopes = " ".join(spec.scopes.split()) or DEFAULT_SCOPES
    if "openid" not in scopes.split() or len(scopes) > 512:
        raise InvalidArgument("spec.scopes", "space-separated scopes including 'openid'")
    domains = []
    for i, domain in enumerate(spec.allowed_domains):
        d = domain.strip().lower()
        if not _DOMAIN.fullmatch(d):
            raise InvalidArgument(f"spec.allowed_domains[{i}]", "a domain like example.com")
        domains.append(d)
    if len(spec.role_mappings) > _MAX_RULES:
        raise InvalidArgument("spec.role_mappings", f"at most {_MAX_RULES} rules")
    rules = [_rule(s, i, r) for i, r in enumerate(spec.role_mappings)]
    return CheckedSpec(
        name=name,
        display_name=spec.display_name or _default_display(preset, name),
        preset=preset,
        tenant=tenant,
        issuer=issuer,
        client_id=client_id,
        scopes=scopes,
        allowed_domains=sorted(set(domains)),
        role_mappings=rules,
        jit_user_creation=spec.jit_user_creation,
        disabled=spec.disabled,
    )


def check_secret(value: str) -> str:
    if len(value) > _MAX_SECRET:
        raise InvalidArgument("client_secret", f"at most {_MAX_SECRET} characters")
    return value


def _issuer(preset: str, tenant: str, issuer: str) -> str:
    if preset == "google":
        issuer = issuer or "https://accounts.google.com"
    elif preset == "microsoft":
        if not _TENANT.fullmatch(tenant) or tenant.lower() in _SHARED_TENANTS:
            raise InvalidArgument(
                "spec.tenant",
                "your Entra ID tenant id (a GUID) or primary domain; 'common', "
                "'organizations' and 'consumers' cannot be pinned to one issuer",
            )
        issuer = issuer or f"https://login.microsoftonline.com/{tenant}/v2.0"
    validation.required("spec.issuer", issuer, "the issuer URL (https://...)")
    parts = urlsplit(issuer)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or len(issuer) > 512
    ):
        raise InvalidArgument("spec.issuer", "an https:// URL without query or fragment")
    if preset == "okta" and parts.scheme != "https":
        raise InvalidArgument("spec.issuer", "your Okta issuer, https://<org>.okta.com[/...]")
    return issuer


def _default_display(preset: str, name: str) -> str:
    return {"google": "Google", "microsoft": "Microsoft", "okta": "Okta"}.get(preset, name)


def _rule(s: Session, i: int, rule: auth_pb2.SsoRoleMapping) -> dict[str, Any]:
    field = f"spec.role_mappings[{i}]"
    claim = validation.required(f"{field}.claim", rule.claim.strip(), "a claim name")
    value = validation.required(f"{field}.value", rule.value, "the claim value to match")
    validation.text(f"{field}.claim", claim, 64)
    validation.text(f"{field}.value", value, 256)
    role = validation.role(f"{field}.role", rule.role)
    ref = validation.required(f"{field}.workspace", rule.workspace, "a workspace name or id")
    workspace_id = s.scalar(
        select(Workspace.id).where(or_(Workspace.name == ref, Workspace.id == ref))
    )
    if workspace_id is None:
        raise NotFound(f"{field}.workspace: no workspace {ref!r}")
    return {"claim": claim, "value": value, "workspace_id": workspace_id, "role": int(role)}


def apply_spec(row: SsoProviderRow, spec: CheckedSpec) -> None:
    row.name = spec.name
    row.display_name = spec.display_name
    row.preset = spec.preset
    row.tenant = spec.tenant
    row.issuer = spec.issuer
    row.client_id = spec.client_id
    row.scopes = spec.scopes
    row.allowed_domains_json = orjson.dumps(spec.allowed_domains).decode()
    row.role_mappings_json = orjson.dumps(spec.role_mappings).decode()
    row.jit_user_creation = spec.jit_user_creation
    row.disabled = spec.disabled
    row.updated_at = datetime.now(UTC)


def find_provider(s: Session, ref: str, *, field: str = "provider") -> SsoProviderRow:
    validation.required(field, ref, "a provider name or id")
    row = s.scalar(
        select(SsoProviderRow).where(or_(SsoProviderRow.name == ref, SsoProviderRow.id == ref))
    )
    if row is None:
        raise NotFound(f"{field}: no SSO provider {ref!r}")
    return row


def allowed_domains(row: SsoProviderRow) -> list[str]:
    return [str(d) for d in orjson.loads(row.allowed_domains_json)]


def role_mappings(row: SsoProviderRow) -> list[dict[str, Any]]:
    return [dict(r) for r in orjson.loads(row.role_mappings_json)]


def provider_message(s: Session, row: SsoProviderRow) -> auth_pb2.SsoProvider:
    """The provider as admins see it: everything but the secret."""
    rules = role_mappings(row)
    ids = [r["workspace_id"] for r in rules]
    rows = s.execute(select(Workspace.id, Workspace.name).where(Workspace.id.in_(ids))).all()
    names = {workspace_id: name for workspace_id, name in rows}
    spec = auth_pb2.SsoProviderSpec(
        name=row.name,
        display_name=row.display_name,
        preset=row.preset,
        issuer=row.issuer,
        tenant=row.tenant,
        client_id=row.client_id,
        scopes=row.scopes,
        allowed_domains=allowed_domains(row),
        role_mappings=[
            auth_pb2.SsoRoleMapping(
                claim=r["claim"],
                value=r["value"],
                workspace=names.get(r["workspace_id"], r["workspace_id"]),
                role=r["role"],
            )
            for r in rules
        ],
        jit_user_creation=row.jit_user_creation,
        disabled=row.disabled,
    )
    return auth_pb2.SsoProvider(
        id=row.id,
        spec=spec,
        has_client_secret=row.client_secret_sealed is not None,
        created_at=convert.timestamp(row.created_at),
        updated_at=convert.timestamp(row.updated_at),
    )
