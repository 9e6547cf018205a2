"""The Open Inference Protocol tensor codec: OIP datatypes <-> numpy for REST and gRPC."""

from modelfleet.oip._datatypes import (
    DATATYPES,
    ORT_TYPES,
    Datatype,
    TensorError,
    TensorSpec,
    datatype,
    datatype_of,
    element_count,
    format_shape,
)
from modelfleet.oip._grpc import (
    build_grpc_request,
    decode_grpc_request,
    decode_grpc_response,
    decode_typed,
    encode_grpc_response,
)
from modelfleet.oip._json import (
    HEADER_LENGTH,
    DecodedRequest,
    decode_json_data,
    decode_json_output,
    decode_json_request,
    dumps,
    encode_json_input,
    encode_json_output,
)
from modelfleet.oip._raw import decode_raw, encode_raw

__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "ORT_TYPES",
    "Datatype",
    "DecodedRequest",
    "TensorError",
    "TensorSpec",
    "build_grpc_request",
    "datatype",
    "datatype_of",
    "decode_grpc_request",
    "decode_grpc_response",
    "decode_json_data",
    "decode_json_output",
    "decode_json_request",
    "decode_raw",
    "decode_typed",
    "dumps",
    "element_count",
    "encode_grpc_response",
    "encode_json_input",
    "encode_json_output",
    "encode_raw",
    "format_shape",
]
