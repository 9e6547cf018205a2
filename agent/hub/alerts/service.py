"""Alerts servicer: rules (create, update, delete, list), alerts (list, acknowledge, silence)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.alerts import convert
from modelfleet.agent.hub.alerts.evaluator import spec_of
from modelfleet.agent.hub.alerts.lookup import find_alert, find_channels, find_rule, offset_page
from modelfleet.agent.hub.alerts.rules import RuleSpec
from modelfleet.agent.hub.db import Database, utcnow
from modelfleet.agent.hub.db.alerts_models import (
    AlertChannel,
    AlertEventRow,
    AlertRow,
    AlertRuleChannel,
    AlertRuleRow,
)
from modelfleet.agent.hub.errors import AlreadyExists, Context, FailedPrecondition, InvalidArgument
from modelfleet.agent.hub.services.convert import from_timestamp
from modelfleet.proto.v1 import alerts_pb2, alerts_pb2_grpc

log = logging.getLogger(__name__)

MAX_SILENCE = timedelta(days=90)
MAX_NOTE = 1024


class AlertsServicer(alerts_pb2_grpc.AlertsServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def CreateRule(
        self, request: alerts_pb2.CreateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        call = current_call()
        spec = convert.spec_from_pb(request.spec)
        call.target = f"alert-rule:{spec.name}"

        def create(s: Session) -> alerts_pb2.AlertRule:
            channels = find_channels(s, call.ws.id, request.spec.channels)
            row = AlertRuleRow(workspace_id=call.ws.id, created_by=call.user.username)
            convert.apply_spec(row, spec)
            s.add(row)
            s.flush()
            s.add_all(AlertRuleChannel(rule_id=row.id, channel_id=c.id) for c in channels)
            record(s, call, details=_details(spec, channels))
            return convert.rule(row, spec, [c.name for c in channels])

        try:
            created = await self._db.write(create)
        except IntegrityError:
            raise AlreadyExists(f"spec.name: a rule named {spec.name!r} already exists") from None
        log.info("[Alerts.CreateRule] rule=%s series=%s", spec.name, spec.series)
        return created

    async def UpdateRule(
        self, request: alerts_pb2.UpdateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        call = current_call()
        validation.required("rule", request.rule, "a rule name or id")
        spec = convert.spec_from_pb(request.spec)
        call.target = f"alert-rule:{request.rule[:64]}"

        def update_rule(s: Session) -> alerts_pb2.AlertRule:
            row = find_rule(s, call.ws.id, request.rule)
            channels = find_channels(s, call.ws.id, request.spec.channels)
            convert.apply_spec(row, spec)
            row.updated_at = utcnow()
            s.execute(delete(AlertRuleChannel).where(AlertRuleChannel.rule_id == row.id))
            s.add_all(AlertRuleChannel(rule_id=row.id, channel_id=c.id) for c in channels)
            s.flush()
            record(s, call, details=_details(spec, channels))
            return convert.rule(row, spec, [c.name for c in channels])

        try:
            return await self._db.write(update_rule)
        except IntegrityError:
            raise AlreadyExists(f"spec.name: a rule named {spec.name!r} already exists") from None

    async def DeleteRule(
        self, request: alerts_pb2.DeleteRuleRequest, context: Context
    ) -> alerts_pb2.DeleteRuleResponse:
        call = current_call()
        validation.required("rule", request.rule, "a rule name or id")
        call.target = f"alert-rule:{request.rule[:64]}"

        def remove(s: Session) -> None:
            row = find_rule(s, call.ws.id, request.rule)
            s.delete(row)
            record(s, call, target=f"alert-rule:{row.name}")

        await self._db.write(remove)
        return alerts_pb2.DeleteRuleResponse()

    async def ListRules(
        self, request: alerts_pb2.ListRulesRequest, context: Context
    ) -> alerts_pb2.ListRulesResponse:
        call = current_call()

        def list_rules(s: Session) -> alerts_pb2.ListRulesResponse:
            query = (
                select(AlertRuleRow)
                .where(AlertRuleRow.workspace_id == call.ws.id)
                .order_by(AlertRuleRow.name)
            )
            rows, token = offset_page(s, query, request.page)
            names: dict[str, list[str]] = {}
            links = select(AlertRuleChannel.rule_id, AlertChannel.name).join(
                AlertChannel, AlertChannel.id == AlertRuleChannel.channel_id
            )
            for rule_id, name in s.execute(
                links.where(AlertRuleChannel.rule_id.in_([r.id for r in rows]))
            ):
                names.setdefault(rule_id, []).append(name)
            rules = [convert.rule(r, spec_of(r), sorted(names.get(r.id, []))) for r in rows]
            return alerts_pb2.ListRulesResponse(rules=rules, next_page_token=token)

        return await self._db.read(list_rules)

    async def ListAlerts(
        self, request: alerts_pb2.ListAlertsRequest, context: Context
    ) -> alerts_pb2.ListAlertsResponse:
        call = current_call()
        states = []
        for index, state in enumerate(request.states):
            if state not in convert.STATES:
                raise InvalidArgument(f"states[{index}]", "PENDING, FIRING, RESOLVED or INACTIVE")
            states.append(convert.STATES[state])

        def list_alerts(s: Session) -> alerts_pb2.ListAlertsResponse:
            query = (
                select(AlertRow, AlertRuleRow)
                .join(AlertRuleRow, AlertRuleRow.id == AlertRow.rule_id)
                .where(AlertRow.workspace_id == call.ws.id)
                .order_by(AlertRow.updated_at.desc(), AlertRow.id)
            )
            if states:
                query = query.where(AlertRow.state.in_(states))
            else:
                query = query.where(AlertRow.state != "inactive")
            if request.rule:
                query = query.where(AlertRow.rule_id == find_rule(s, call.ws.id, request.rule).id)
            rows, token = offset_page(s, query, request.page)
            history: dict[str, list[AlertEventRow]] = {}
            if request.include_history:
                events = select(AlertEventRow).where(
                    AlertEventRow.alert_id.in_([a.id for a, _ in rows])
                )
                for e in s.scalars(events.order_by(AlertEventRow.id.desc())):
                    history.setdefault(e.alert_id, []).append(e)
            alerts = [convert.alert(a, spec_of(r), history.get(a.id)) for a, r in rows]
            return alerts_pb2.ListAlertsResponse(alerts=alerts, next_page_token=token)

        return await self._db.read(list_alerts)

    async def AcknowledgeAlert(
        self, request: alerts_pb2.AcknowledgeAlertRequest, context: Context
    ) -> alerts_pb2.Alert:
        call = current_call()
        note = validation.text("note", request.note, MAX_NOTE)
        call.target = f"alert:{request.alert_id[:32]}"

        def acknowledge(s: Session) -> alerts_pb2.Alert:
            row, rule = find_alert(s, call.ws.id, request.alert_id)
            if row.state != "firing":
                raise FailedPrecondition(
                    f"alert {row.id} is {row.state}; only a firing alert can be acknowledged"
                )
            now = utcnow()
            row.acknowledged_at, row.acknowledged_by = now, call.user.username
            row.updated_at = now
            s.add(
                AlertEventRow(
                    alert_id=row.id,
                    kind="acknowledged",
                    value=row.value,
                    actor=call.user.username,
                    note=note,
                    at=now,
                )
            )
            record(s, call, details={"rule": rule.name})
            return convert.alert(row, spec_of(rule))

        return await self._db.write(acknowledge)

    async def SilenceAlert(
        self, request: alerts_pb2.SilenceAlertRequest, context: Context
    ) -> alerts_pb2.Alert:
        call = current_call()
        note = validation.text("note", request.note, MAX_NOTE)
        if not request.HasField("until"):
            raise InvalidArgument("until", "a time (in the past to lift the silence)")
        until = from_timestamp(request.until)
        now = utcnow()
        if until - now > MAX_SILENCE:
            raise InvalidArgument("until", "at most 90 days ahead", got=until.isoformat())
        call.target = f"alert:{request.alert_id[:32]}"

        def silence(s: Session) -> alerts_pb2.Alert:
            row, rule = find_alert(s, call.ws.id, request.alert_id)
            lifted = until <= now
            row.silenced_until = None if lifted else until
            row.silenced_by = "" if lifted else call.user.username
            row.updated_at = now
            s.add(
                AlertEventRow(
                    alert_id=row.id,
                    kind="unsilenced" if lifted else "silenced",
                    value=row.value,
                    actor=call.user.username,
                    note=note,
                    at=now,
                )
            )
            record(s, call, details={"rule": rule.name, "until": until.isoformat()})
            return convert.alert(row, spec_of(rule))

        return await self._db.write(silence)


def _details(spec: RuleSpec, channels: list[AlertChannel]) -> dict[str, object]:
    return {
        "series": spec.series,
        "condition": f"{spec.comparator} {spec.threshold}",
        "for_seconds": spec.for_seconds,
        "channels": [c.name for c in channels],
    }
