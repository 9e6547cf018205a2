"""Calls from the hub to identity providers: JSON over HTTP(S), through the outbound policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from modelfleet._version import __version__
from modelfleet.agent.hub.alerts.outbound import (
    GuardedResolver,
    OutboundPolicy,
    OutboundRefused,
    check_url,
)

_MAX_BODY = 1 << 20


class IdpError(Exception):
    """The provider could not be reached or answered something that is not usable."""


class IdpRefused(IdpError):
    """The provider answered with an OAuth error (`error` is its code, e.g. invalid_grant)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class IdpHttp:
    """A short-lived connection per exchange: sign-ins are rare, and nothing is left open."""

    def __init__(self, policy: OutboundPolicy, timeout: float) -> None:
        self._policy = policy
        self._timeout = timeout

    async def get_json(self, url: str, *, what: str) -> dict[str, Any]:
        return await self._request("GET", url, what=what)

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        what: str,
        basic_auth: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {}
        if basic_auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(*basic_auth)
        return await self._request("POST", url, what=what, form=form, extra_headers=headers)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        form: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            host, port = check_url(url, field=what)
            addresses = await self._policy.resolve(host, port)
            if url.startswith("http://"):
                self._policy.check_plain_http(host, addresses)
        except (ValueError, OutboundRefused) as exc:
            raise IdpError(str(exc)) from None
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._policy))
        headers = {
            "Accept": "application/json",
            "User-Agent": f"modelfleet-hub/{__version__}",
            **(extra_headers or {}),
        }
        try:
            async with (
                aiohttp.ClientSession(
                    connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout)
                ) as http,
                http.request(
                    method, url, data=form, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
                body = await response.content.read(_MAX_BODY + 1)
        except OutboundRefused as exc:
            raise IdpError(str(exc)) from None
        except TimeoutError:
            raise IdpError(f"{what}: {host} did not answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise IdpError(f"{what}: cannot reach {host} ({type(exc).__name__})") from None
        if len(body) > _MAX_BODY:
            raise IdpError(f"{what}: answer from {host} is larger than 1 MiB")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and status >= 400 and isinstance(doc.get("error"), str):
            description = doc.get("error_description")
            raise IdpRefused(doc["error"][:64], str(description or "")[:256])
        if status != 200 or not isinstance(doc, dict):
            raise IdpError(f"{what}: {host} answered HTTP {status} without a JSON object")
        return doc
