"""OpenAPI 3.1 document of one model, generated from its signature and feature names."""

from __future__ import annotations

from typing import Any

from modelfleet._version import __version__
from modelfleet.agent.node.session import Signature
from modelfleet.oip import TensorSpec

_ERROR = {
    "description": "error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            }
        }
    },
}
_STATUSES = {
    "400": "malformed body or tensor",
    "404": "unknown model",
    "413": "body or rows over the limit",
    "429": "too many requests in flight",
    "503": "not ready or shutting down",
    "504": "deadline exceeded",
}


def scalar_schema(datatype: str) -> dict[str, Any]:
    """JSON schema of one element of an OIP datatype."""
    if datatype == "BOOL":
        return {"type": "boolean"}
    if datatype == "BYTES":
        return {"type": "string"}
    if datatype.startswith(("INT", "UINT")):
        schema: dict[str, Any] = {"type": "integer", "format": datatype.lower()}
        if datatype.startswith("UINT"):
            schema["minimum"] = 0
        return schema
    return {"type": "number", "format": {"FP64": "double"}.get(datatype, "float")}


def row_schema(spec: TensorSpec) -> dict[str, Any]:
    """Schema of one row (the tensor without its first dimension)."""
    schema = scalar_schema(spec.datatype)
    for dim in reversed(spec.shape[1:]):
        schema = {"type": "array", "items": schema}
        if dim >= 0:
            schema["minItems"] = schema["maxItems"] = dim
    return schema


_AUTH_STATUSES = {
    "401": "missing or invalid inference key",
    "403": "the inference key may not call this model",
    "429": "too many requests in flight, or the key is over its rate limit (see Retry-After)",
}


def openapi_document(
    name: str,
    version: str,
    signature: Signature,
    feature_names: tuple[str, ...] | None,
    bearer: bool = False,
) -> dict[str, Any]:
    """The friendly predict and the OIP infer endpoints of model `name`; with `bearer`, both
    require an inference key (`Authorization: Bearer <key>`)."""
    if feature_names is not None:
        element = scalar_schema(signature.inputs[0].datatype)
        instance = {
            "type": "object",
            "required": list(feature_names),
            "additionalProperties": False,
            "properties": {f: element for f in feature_names},
        }
    else:
        instance = {
            "type": "object",
            "required": [s.name for s in signature.inputs],
            "additionalProperties": False,
            "properties": {s.name: row_schema(s) for s in signature.inputs},
        }
    rows_by_input = {
        "type": "object",
        "properties": {s.name: {"type": "array", "items": row_schema(s)} for s in signature.inputs},
    }
    predict_request = {
        "oneOf": [
            {
                "type": "object",
                "required": ["instances"],
                "properties": {"instances": {"type": "array", "minItems": 1, "items": instance}},
            },
            {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "inputs": (
                        {"type": "array", "items": row_schema(signature.inputs[0])}
                        if len(signature.inputs) == 1
                        else rows_by_input
                    )
                },
            },
        ]
    }
    prediction = {
        "type": "object",
        "properties": {s.name: row_schema(s) for s in signature.outputs},
    }
    predict_response = {
        "type": "object",
        "required": ["model_name", "model_version", "predictions"],
        "properties": {
            "model_name": {"type": "string", "const": name},
            "model_version": {"type": "string"},
            "predictions": {"type": "array", "items": prediction},
        },
    }
    statuses = {**_STATUSES, **_AUTH_STATUSES} if bearer else _STATUSES
    errors = {code: {**_ERROR, "description": text} for code, text in sorted(statuses.items())}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"{name} (version {version})",
            "version": __version__,
            "description": f"Predictions from model '{name}', served by modelfleet.",
        },
        "paths": {
            f"/v1/models/{name}/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict one row per instance",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": predict_request}},
                    },
                    "responses": {
                        "200": {
                            "description": "one prediction per instance",
                            "content": {"application/json": {"schema": predict_response}},
                        },
                        **errors,
                    },
                }
            },
            f"/v2/models/{name}/infer": {
                "post": {
                    "operationId": "infer",
                    "summary": "Open Inference Protocol infer request",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _infer_request(signature)}},
                    },
                    "responses": {"200": {"description": "OIP infer response"}, **errors},
                }
            },
        },
    }
    if bearer:
        document["components"] = {
            "securitySchemes": {
                "inferenceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an inference key (mfk_...) scoped to this model",
                }
            }
        }
        document["security"] = [{"inferenceKey": []}]
    return document


def _infer_request(signature: Signature) -> dict[str, Any]:
    tensors = [
        {
            "type": "object",
            "required": ["name", "datatype", "shape", "data"],
            "properties": {
                "name": {"const": s.name},
                "datatype": {"const": s.datatype},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "data": {"type": "array"},
            },
        }
        for s in signature.inputs
    ]
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "items": {"oneOf": tensors}},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"enum": [s.name for s in signature.outputs]}},
                },
            },
        },
    }
