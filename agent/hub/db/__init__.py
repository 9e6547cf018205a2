"""The hub database: typed ORM models, engines, units of work and migrations."""

# Imported for its tables: tracking code imports its models from the module itself.
from modelfleet.agent.hub.db import alerts_models as alerts_models
from modelfleet.agent.hub.db import drift_models as drift_models
from modelfleet.agent.hub.db import fleet_models as fleet_models
from modelfleet.agent.hub.db import security_models as security_models
from modelfleet.agent.hub.db import tracking_models as tracking_models
from modelfleet.agent.hub.db.engine import Database, make_engine
from modelfleet.agent.hub.db.migrate import current_revision, downgrade, head_revision, upgrade
from modelfleet.agent.hub.db.models import (
    ApiKey,
    AuditEvent,
    AuditHead,
    Base,
    Membership,
    RefreshToken,
    User,
    Workspace,
    new_id,
    utcnow,
)
from modelfleet.agent.hub.db.registry_models import (
    ArtifactUpload,
    ModelAlias,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    RegistryComment,
    WorkspaceArtifact,
)

__all__ = [
    "ApiKey",
    "ArtifactUpload",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Database",
    "Membership",
    "ModelAlias",
    "ModelTag",
    "ModelVersion",
    "RefreshToken",
    "RegisteredModel",
    "RegistryComment",
    "User",
    "Workspace",
    "WorkspaceArtifact",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "new_id",
    "upgrade",
    "utcnow",
]
