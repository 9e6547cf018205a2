"""Workspace-scoped lookups of rules, channels and alerts, and offset pages over a query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db.alerts_models import AlertChannel, AlertRow, AlertRuleRow
from modelfleet.agent.hub.errors import InvalidArgument, NotFound
from modelfleet.agent.hub.services.users import decode_cursor, encode_cursor, page_size
from modelfleet.proto.v1 import common_pb2


def find_rule(s: Session, workspace_id: str, ref: str) -> AlertRuleRow:
    row = s.scalar(
        select(AlertRuleRow).where(
            AlertRuleRow.workspace_id == workspace_id,
            or_(AlertRuleRow.name == ref, AlertRuleRow.id == ref),
        )
    )
    if row is None:
        raise NotFound(f"rule: no alert rule {ref[:64]!r} in this workspace")
    return row


def find_channel(s: Session, workspace_id: str, ref: str, field: str = "channel") -> AlertChannel:
    row = s.scalar(
        select(AlertChannel).where(
            AlertChannel.workspace_id == workspace_id,
            or_(AlertChannel.name == ref, AlertChannel.id == ref),
        )
    )
    if row is None:
        raise NotFound(f"{field}: no channel {ref[:64]!r} in this workspace")
    return row


def find_channels(s: Session, workspace_id: str, refs: Sequence[str]) -> list[AlertChannel]:
    found: dict[str, AlertChannel] = {}
    for index, ref in enumerate(refs):
        if not ref:
            raise InvalidArgument(f"spec.channels[{index}]", "a channel name or id", got="empty")
        row = find_channel(s, workspace_id, ref, f"spec.channels[{index}]")
        found[row.id] = row
    return list(found.values())


def find_alert(s: Session, workspace_id: str, alert_id: str) -> tuple[AlertRow, AlertRuleRow]:
    if not alert_id:
        raise InvalidArgument("alert_id", "an alert id", got="empty")
    found = s.execute(
        select(AlertRow, AlertRuleRow)
        .join(AlertRuleRow, AlertRuleRow.id == AlertRow.rule_id)
        .where(AlertRow.workspace_id == workspace_id, AlertRow.id == alert_id)
    ).first()
    if found is None:
        raise NotFound(f"alert_id: no alert {alert_id[:64]!r} in this workspace")
    return found[0], found[1]


def offset_page(
    s: Session, query: Select[*tuple[Any, ...]], page: common_pb2.PageRequest
) -> tuple[list[Any], str]:
    """One page of `query` (rows, or tuples for multi-entity selects) and the next token."""
    limit = page_size(page.page_size)
    offset = 0
    if page.page_token:
        text = decode_cursor(page.page_token)
        if not text.isdigit():
            raise InvalidArgument("page.page_token", "a token from a previous response")
        offset = int(text)
    result = s.execute(query.offset(offset).limit(limit + 1))
    single = len(query.column_descriptions) == 1
    rows: list[Any] = list(result.scalars()) if single else [tuple(r) for r in result]
    more = len(rows) > limit
    return rows[:limit], encode_cursor(str(offset + limit)) if more else ""
