"""REST routes: OIP v2 health, metadata and infer; friendly /v1 predict; OpenAPI; /metrics."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from modelfleet._version import __version__
from modelfleet.agent.node.access import HostCheck, InferenceAccess, retry_after_header
from modelfleet.agent.node.errors import (
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServingError,
    Unauthenticated,
)
from modelfleet.agent.node.friendly import decode_predict, predictions
from modelfleet.agent.node.inference import Call, InferenceService
from modelfleet.agent.node.models import ModelVersion
from modelfleet.agent.node.monitor import (
    Monitors,
    accept_feedback,
    feedback_from_json,
    feedback_json,
)
from modelfleet.agent.node.openapi import openapi_document
from modelfleet.agent.node.rest.protocol import Deferred, Request, Response, error_response
from modelfleet.oip import HEADER_LENGTH, decode_json_request, dumps, encode_json_output

PLATFORM = "onnxruntime_onnx"
EXTENSIONS = ["binary_tensor_data"]
_HEADER_KEY = HEADER_LENGTH.encode()
_OCTETS = b"application/octet-stream"
#: names the model version that answered (deployments split traffic across versions)
VERSION_HEADER = b"x-modelfleet-model-version"
_AUTHORIZATION = b"authorization"
_CHALLENGE = (b"www-authenticate", b'Bearer realm="modelfleet"')
Result = Response | Deferred


class RestApi:
    """Routes requests; synchronous answers return a Response, inference a coroutine."""

    def __init__(
        self,
        service: InferenceService,
        registry: CollectorRegistry,
        is_ready: Callable[[], bool],
        monitors: Monitors | None = None,
        access: InferenceAccess | None = None,
        hosts: HostCheck | None = None,
        control_token: str = "",
    ) -> None:
        self.service = service
        self.access = access or InferenceAccess()
        self._hosts = hosts
        # /metrics from a non-loopback peer needs this (empty: never from there)
        self._metrics_auth = f"Bearer {control_token}".encode() if control_token else b""
        self.monitors = monitors
        self.manager = service.manager
        self._registry = registry
        self._is_ready = is_ready
        self._live = Response(200, dumps({"live": True}))
        self._server = Response(
            200, dumps({"name": "modelfleet", "version": __version__, "extensions": EXTENSIONS})
        )

    def __call__(self, request: Request) -> Result:
        try:
            if self._hosts is not None:
                self._hosts.check(request.headers.get(b"host"))
            return self._route(request, request.path.split("/"))
        except ServingError as exc:
            headers = []
            if isinstance(exc, _WrongMethod):
                headers.append((b"allow", exc.allow))
            elif isinstance(exc, RateLimited):
                headers.append((b"retry-after", retry_after_header(exc.retry_after_s)))
            elif isinstance(exc, Unauthenticated):
                headers.append(_CHALLENGE)
            return Response(exc.http_status, dumps({"error": str(exc)}), headers=headers)

    def _authorize(self, request: Request, model: str) -> None:
        if self.access.active:
            self.access.check(model, request.headers.get(_AUTHORIZATION))

    def _route(self, request: Request, parts: list[str]) -> Result:
        count = len(parts)
        if count >= 2 and parts[0] == "":
            if parts[1] == "v2":
                if count == 2:
                    return _get(request, self._server)
                if parts[2] == "models" and count >= 4:
                    name = unquote(parts[3])
                    self._authorize(request, name)
                    return self._model_route(request, name, parts[4:])
                if parts[2] == "health" and count == 4:
                    if parts[3] == "live":
                        return _get(request, self._live)
                    if parts[3] == "ready":
                        _check_method(request, "GET")
                        ready = self._is_ready()
                        return Response(200 if ready else 503, dumps({"ready": ready}))
            elif parts[1] == "v1" and count == 5 and parts[2] == "models":
                name = unquote(parts[3])
                self._authorize(request, name)
                if parts[4] == "predict":
                    _check_method(request, "POST")
                    return self._predict(request, name)
                if parts[4] == "openapi.json":
                    _check_method(request, "GET")
                    return self._openapi(name)
                if parts[4] == "feedback" and self.monitors is not None:
                    _check_method(request, "POST")
                    return self._feedback(request, name)
            elif parts[1] == "metrics" and count == 2:
                _check_method(request, "GET")
                self._metrics_allowed(request)
                return Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST.encode())
        raise NotFound(f"no route for {request.path!r}")

    def _metrics_allowed(self, request: Request) -> None:
        """Open to loopback clients; others need the control token (Prometheus can send it
        as a bearer token)."""
        if request.local:
            return
        given = request.headers.get(_AUTHORIZATION, b"")
        if not self._metrics_auth or not hmac.compare_digest(given, self._metrics_auth):
            raise Unauthenticated(
                "/metrics from a non-loopback address needs the agent's control token "
                "(header 'Authorization: Bearer <token>')"
            )

    def _model_route(self, request: Request, name: str, rest: list[str]) -> Result:
        version: str | None = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = unquote(rest[1]), rest[2:]
        if not rest:
            _check_method(request, "GET")
            return Response(200, dumps(self._metadata(self.manager.resolve(name, version))))
        if rest == ["infer"]:
            _check_method(request, "POST")
            return self._infer(request, name, version)
        if rest == ["ready"]:
            _check_method(request, "GET")
            ready = self._model_ready(name, version)
            # Clients (Triton's among them) read readiness from the status code alone.
            return Response(200 if ready else 503, dumps({"name": name, "ready": ready}))
        raise NotFound(f"no route for {request.path!r}")

    def _model_ready(self, name: str, version: str | None) -> bool:
        try:
            self.manager.resolve(name, version)
        except NotFound:
            raise
        except ServingError:
            return False
        return True

    def _metadata(self, mv: ModelVersion) -> dict[str, Any]:
        assert mv.model is not None  # resolved versions are loaded
        signature = mv.model.signature
        parameters: dict[str, Any] = dict(mv.config.metadata)
        if mv.config.feature_names is not None:
            parameters["feature_names"] = list(mv.config.feature_names)
        return {
            "name": mv.name,
            "versions": self.manager.versions_of(mv.name),
            "platform": PLATFORM,
            "inputs": [_tensor_meta(s.name, s.datatype, s.shape) for s in signature.inputs],
            "outputs": [_tensor_meta(s.name, s.datatype, s.shape) for s in signature.outputs],
            "parameters": parameters,
        }

    def _openapi(self, name: str) -> Response:
        mv = self.manager.resolve(name, None)
        assert mv.model is not None
        document = openapi_document(
            mv.name,
            mv.version,
            mv.model.signature,
            mv.config.feature_names,
            bearer=self.access.protects(name),
        )
        return Response(200, dumps(document))

    def _infer(self, request: Request, name: str, version: str | None) -> Result:
        started = time.perf_counter()
        header = request.headers.get(_HEADER_KEY)
        length: int | None = None
        if header is not None:
            if not header.isdigit():
                raise InvalidInput("Inference-Header-Content-Length must be an integer")
            length = int(header)
        call = self.service.submit(
            name,
            version,
            lambda _: decode_json_request(request.body, length),
            started,
            key_of=partial(_header, request),
        )
        return Deferred(call.future, partial(_infer_response, call))

    def _feedback(self, request: Request, name: str) -> Response:
        assert self.monitors is not None  # routed only when monitoring is on
        items = feedback_from_json(request.body)
        result = accept_feedback(self.monitors, self.manager, name, items)
        return Response(200, dumps(feedback_json(self.monitors, name, result)))

    def _predict(self, request: Request, name: str) -> Result:
        started = time.perf_counter()
        call = self.service.submit(
            name,
            None,
            lambda mv: decode_predict(mv, request.body),
            started,
            key_of=partial(_header, request),
        )
        return Deferred(call.future, partial(_predict_response, call))


def _infer_response(call: Call) -> Response:
    try:
        outputs = call.outputs()
    except ServingError as exc:
        return error_response(exc.http_status, str(exc))
    decoded = call.request
    tensors: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for out_name, array in outputs.items():
        binary = decoded.binary_all or out_name in decoded.binary_outputs
        tensor, raw = encode_json_output(out_name, array, binary)
        tensors.append(tensor)
        if binary:
            tail.append(raw)
    body: dict[str, Any] = {"model_name": call.mv.name, "model_version": call.mv.version}
    if decoded.id:
        body["id"] = decoded.id
    body["outputs"] = tensors
    head = dumps(body)
    version_header = (VERSION_HEADER, call.mv.version.encode())
    if not tail:
        return Response(200, head, headers=[version_header])
    headers = [(_HEADER_KEY, b"%d" % len(head)), version_header]
    return Response(200, head + b"".join(tail), _OCTETS, headers)


def _predict_response(call: Call) -> Response:
    try:
        outputs = call.outputs()
    except ServingError as exc:
        return error_response(exc.http_status, str(exc))
    body: dict[str, Any] = {"model_name": call.mv.name, "model_version": call.mv.version}
    if call.request.id:
        body["id"] = call.request.id
    body["predictions"] = predictions(outputs)
    return Response(200, dumps(body), headers=[(VERSION_HEADER, call.mv.version.encode())])


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name.encode())
    return value.decode("latin-1") if value is not None else None


class _WrongMethod(MethodNotAllowed):
    def __init__(self, path: str, allow: str) -> None:
        super().__init__(f"{path} accepts {allow} only")
        self.allow = allow.encode()


def _check_method(request: Request, allow: str) -> None:
    if request.method != allow:
        raise _WrongMethod(request.path, allow)


def _get(request: Request, response: Response) -> Response:
    _check_method(request, "GET")
    return response


def _tensor_meta(name: str, datatype: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(shape)}
