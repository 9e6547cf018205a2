"""OpenAPI documents generated from model signatures."""

from __future__ import annotations

from modelfleet.agent.node.openapi import openapi_document, row_schema, scalar_schema
from modelfleet.agent.node.session import Signature
from modelfleet.oip import TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec("input", "FP32", (-1, 3)),),
    outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
)


def test_named_features_become_required_properties() -> None:
    doc = openapi_document("risk", "2", SIGNATURE, ("age", "income", "debt"))
    assert doc["openapi"] == "3.1.0"
    post = doc["paths"]["/v1/models/risk/predict"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    instance = request[0]["properties"]["instances"]["items"]
    assert instance["required"] == ["age", "income", "debt"]
    assert instance["additionalProperties"] is False
    assert instance["properties"]["age"] == {"type": "number", "format": "float"}
    rows = request[1]["properties"]["inputs"]["items"]
    assert rows == {"type": "array", "items": scalar_schema("FP32"), "minItems": 3, "maxItems": 3}
    response = post["responses"]["200"]["content"]["application/json"]["schema"]
    prediction = response["properties"]["predictions"]["items"]["properties"]
    assert prediction["label"] == {"type": "integer", "format": "int64"}
    assert prediction["probabilities"]["maxItems"] == 2
    assert {"400", "404", "413", "429", "503", "504"} <= set(post["responses"])
    infer = doc["paths"]["/v2/models/risk/infer"]["post"]["requestBody"]
    tensor = infer["content"]["application/json"]["schema"]["properties"]["inputs"]["items"]
    assert tensor["oneOf"][0]["properties"]["datatype"] == {"const": "FP32"}


def test_without_feature_names_keys_are_input_names() -> None:
    signature = Signature(
        inputs=(TensorSpec("text", "BYTES", (-1,)), TensorSpec("flags", "BOOL", (-1, -1))),
        outputs=(TensorSpec("score", "FP64", (-1,)),),
    )
    doc = openapi_document("multi", "1", signature, None)
    schema = doc["paths"]["/v1/models/multi/predict"]["post"]["requestBody"]["content"]
    instance = schema["application/json"]["schema"]["oneOf"][0]["properties"]["instances"]
    properties = instance["items"]["properties"]
    assert properties["text"] == {"type": "string"}
    assert properties["flags"] == {"type": "array", "items": {"type": "boolean"}}
    assert row_schema(TensorSpec("u", "UINT8", (-1, 2)))["items"]["minimum"] == 0
