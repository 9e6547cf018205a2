"""Channels servicer: create (secret sealed, target checked), list, delete, test, deliveries."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.alerts import channels, convert
from modelfleet.agent.hub.alerts.delivery import secret_context, target_of
from modelfleet.agent.hub.alerts.formatters import Notification
from modelfleet.agent.hub.alerts.lookup import find_channel, offset_page
from modelfleet.agent.hub.alerts.outbound import OutboundRefused, check_url
from modelfleet.agent.hub.alerts.runtime import AlertsRuntime
from modelfleet.agent.hub.db import Database, new_id, utcnow
from modelfleet.agent.hub.db.alerts_models import (
    AlertChannel,
    AlertDelivery,
    AlertRuleChannel,
    AlertRuleRow,
)
from modelfleet.agent.hub.errors import AlreadyExists, Context, FailedPrecondition, InvalidArgument
from modelfleet.proto.v1 import alerts_pb2, alerts_pb2_grpc

log = logging.getLogger(__name__)


class ChannelsServicer(alerts_pb2_grpc.ChannelsServicer):
    def __init__(self, db: Database, runtime: AlertsRuntime) -> None:
        self._db = db
        self._runtime = runtime

    async def CreateChannel(
        self, request: alerts_pb2.CreateChannelRequest, context: Context
    ) -> alerts_pb2.Channel:
        call = current_call()
        validation.name("name", request.name)
        call.target = f"channel:{request.name}"
        kind, config, host_field = _config(request)
        await self._check_destination(kind, config, request.secret, host_field)
        channel_id = new_id()
        sealed = (
            self._runtime.secrets.seal(request.secret, secret_context(channel_id))
            if request.secret
            else None
        )

        def create(s: Session) -> alerts_pb2.Channel:
            row = AlertChannel(
                id=channel_id,
                workspace_id=call.ws.id,
                name=request.name,
                kind=kind,
                config_json=orjson.dumps(config).decode(),
                secret_sealed=sealed,
                created_by=call.user.username,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            msg = convert.channel(row)
            record(
                s,
                call,
                details={"kind": kind, "target": msg.target, "secret_set": sealed is not None},
            )
            return msg

        try:
            created = await self._db.write(create)
        except IntegrityError:
            raise AlreadyExists(f"name: a channel named {request.name!r} already exists") from None
        log.info("[Channels.CreateChannel] channel=%s kind=%s", request.name, kind)
        return created

    async def _check_destination(
        self, kind: str, config: dict[str, Any], secret: str, host_field: str
    ) -> None:
        """Refuse, now, a destination the outbound policy would refuse at every delivery."""
        url = "" if kind == "email" else secret if kind in ("slack", "teams") else config["url"]
        host, port = (
            (config["host"], config["port"]) if kind == "email" else check_url(url, field="")
        )
        try:
            addresses = await self._runtime.policy.resolve(host, port)
            if url.startswith("http://"):
                self._runtime.policy.check_plain_http(host, addresses)
        except OutboundRefused as exc:
            raise InvalidArgument(host_field, "a public destination", got=str(exc)) from None
        if kind == "email" and config["security"] == "none":
            try:
                self._runtime.policy.check_plain_smtp(host, addresses)
            except OutboundRefused as exc:
                raise InvalidArgument(
                    "email.security", "STARTTLS or IMPLICIT_TLS", got=str(exc)
                ) from None

    async def ListChannels(
        self, request: alerts_pb2.ListChannelsRequest, context: Context
    ) -> alerts_pb2.ListChannelsResponse:
        call = current_call()
        query = (
            select(AlertChannel)
            .where(AlertChannel.workspace_id == call.ws.id)
            .order_by(AlertChannel.name)
        )
        rows = await self._db.read(lambda s: list(s.scalars(query)))
        return alerts_pb2.ListChannelsResponse(channels=[convert.channel(r) for r in rows])

    async def DeleteChannel(
        self, request: alerts_pb2.DeleteChannelRequest, context: Context
    ) -> alerts_pb2.DeleteChannelResponse:
        call = current_call()
        validation.required("channel", request.channel, "a channel name or id")
        call.target = f"channel:{request.channel[:64]}"

        def remove(s: Session) -> None:
            row = find_channel(s, call.ws.id, request.channel)
            users = list(
                s.scalars(
                    select(AlertRuleRow.name)
                    .join(AlertRuleChannel, AlertRuleChannel.rule_id == AlertRuleRow.id)
                    .where(AlertRuleChannel.channel_id == row.id)
                    .order_by(AlertRuleRow.name)
                )
            )
            if users:
                raise FailedPrecondition(
                    f"channel {row.name!r} is used by rules {', '.join(users)}; "
                    "remove it from them first"
                )
            s.delete(row)
            record(s, call, target=f"channel:{row.name}")

        await self._db.write(remove)
        return alerts_pb2.DeleteChannelResponse()

    async def TestChannel(
        self, request: alerts_pb2.TestChannelRequest, context: Context
    ) -> alerts_pb2.TestChannelResponse:
        call = current_call()
        validation.required("channel", request.channel, "a channel name or id")
        call.target = f"channel:{request.channel[:64]}"
        queue = self._runtime.queue

        def prepare(s: Session) -> Any:
            row = find_channel(s, call.ws.id, request.channel)
            now = utcnow()
            note = Notification(
                event="test",
                alert_id="",
                rule="",
                severity="info",
                series="",
                comparator="",
                threshold=0.0,
                value=0.0,
                time=now.isoformat().replace("+00:00", "Z"),
                workspace=call.ws.name,
            )
            delivery = AlertDelivery(
                workspace_id=call.ws.id,
                channel_id=row.id,
                channel_name=row.name,
                idempotency_key=f"test:{new_id()}",
                event="test",
                message_json=note.to_json(),
                created_at=now,
                next_attempt_at=now,
            )
            s.add(delivery)
            s.flush()
            record(s, call, details={"kind": target_of(row).kind})
            return queue.claim_one(s, delivery.id)

        claimed = await self._db.write(prepare)
        status = await queue.attempt(claimed, retry=False)
        error = ""
        if status != "delivered":
            row = await self._db.read(lambda s: s.get(AlertDelivery, claimed.id))
            error = row.last_error if row is not None else ""
        return alerts_pb2.TestChannelResponse(
            delivered=status == "delivered", error=error, delivery_id=claimed.id
        )

    async def ListDeliveries(
        self, request: alerts_pb2.ListDeliveriesRequest, context: Context
    ) -> alerts_pb2.ListDeliveriesResponse:
        call = current_call()

        def list_deliveries(s: Session) -> alerts_pb2.ListDeliveriesResponse:
            query = (
                select(AlertDelivery)
                .where(AlertDelivery.workspace_id == call.ws.id)
                .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id)
            )
            if request.channel:
                channel_id = find_channel(s, call.ws.id, request.channel).id
                query = query.where(AlertDelivery.channel_id == channel_id)
            if request.alert_id:
                query = query.where(AlertDelivery.alert_id == request.alert_id)
            rows, token = offset_page(s, query, request.page)
            return alerts_pb2.ListDeliveriesResponse(
                deliveries=[convert.delivery(r) for r in rows], next_page_token=token
            )

        return await self._db.read(list_deliveries)


def _config(request: alerts_pb2.CreateChannelRequest) -> tuple[str, dict[str, Any], str]:
    """(kind, secret-free config, the field naming the destination host) of a request."""
    which = request.WhichOneof("config")
    if which is None:
        raise InvalidArgument("config", "one of email, slack, teams or webhook")
    channels.check_secret(which, request.secret)
    if which == "email":
        e = request.email
        config = channels.check_email(
            e.host,
            e.port,
            e.username,
            e.from_address,
            list(e.to),
            convert.SECURITY.get(e.security, "unknown"),
            e.ca_pem,
            request.secret,
            e.plaintext_auth,
        )
        return which, config, "email.host"
    if which == "webhook":
        return which, channels.check_webhook_url(which, request.webhook.url), "webhook.url"
    return which, channels.check_webhook_url(which, request.secret), "secret"
