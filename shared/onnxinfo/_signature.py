"""Read an ONNX model's signature (opsets, inputs, outputs, metadata) from untrusted bytes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from modelfleet.onnxinfo._errors import ModelRefused, require_text
from modelfleet.onnxinfo._external import (
    check_location_syntax,
    confine_external_data,
    external_entries,
    external_tensors,
)
from modelfleet.onnxinfo._sniff import refuse_foreign_formats

# A protobuf cannot exceed 2 GiB; larger weights must live in external data files.
MAX_MODEL_BYTES = (2 << 30) - 1

_T = onnx.TensorProto
# Open Inference Protocol datatype names of ONNX element types.
_OIP_DATATYPES: dict[int, str] = {
    _T.BOOL: "BOOL",
    _T.UINT8: "UINT8",
    _T.UINT16: "UINT16",
    _T.UINT32: "UINT32",
    _T.UINT64: "UINT64",
    _T.INT8: "INT8",
    _T.INT16: "INT16",
    _T.INT32: "INT32",
    _T.INT64: "INT64",
    _T.FLOAT16: "FP16",
    _T.FLOAT: "FP32",
    _T.DOUBLE: "FP64",
    _T.BFLOAT16: "BF16",
    _T.STRING: "BYTES",
}


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output. `shape` uses -1 for symbolic or unknown dimensions and is
    None when even the rank is unknown; non-tensor values (sequences, maps) have
    `is_tensor` False and a descriptive `datatype` such as "SEQUENCE(MAP(INT64,FP32))"."""

    name: str
    datatype: str
    shape: tuple[int, ...] | None
    is_tensor: bool = True


@dataclass(frozen=True)
class ModelSignature:
    """What the registry and the serving side need to know about a model, without running it."""

    ir_version: int
    opset_imports: dict[str, int]
    producer_name: str
    producer_version: str
    domain: str
    model_version: int
    graph_name: str
    doc_string: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]
    external_data: tuple[str, ...]

    @property
    def opset(self) -> int:
        """The version of the default ONNX operator set."""
        return self.opset_imports.get("", self.opset_imports.get("ai.onnx", 0))


def _element_name(elem_type: int) -> str:
    name = _OIP_DATATYPES.get(elem_type)
    if name is not None:
        return name
    try:
        return _T.DataType.Name(elem_type)
    except ValueError:  # the checker lets any integer through
        raise ModelRefused(
            f"element type {elem_type} is not an ONNX data type",
            field="elem_type",
            expected="a TensorProto.DataType value",
        ) from None


def _describe(value: onnx.TypeProto) -> str:
    kind = value.WhichOneof("value")
    if kind == "tensor_type":
        return _element_name(value.tensor_type.elem_type)
    if kind == "sparse_tensor_type":
        return f"SPARSE({_element_name(value.sparse_tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"SEQUENCE({_describe(value.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"OPTIONAL({_describe(value.optional_type.elem_type)})"
    if kind == "map_type":
        key = _element_name(value.map_type.key_type)
        return f"MAP({key},{_describe(value.map_type.value_type)})"
    return "UNKNOWN"


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return TensorSpec(_name(value), _describe(value.type), None, is_tensor=False)
    tensor = value.type.tensor_type
    shape = None
    if tensor.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else -1
            for d in tensor.shape.dim
        )
    return TensorSpec(_name(value), _element_name(tensor.elem_type), shape)


def _name(value: onnx.ValueInfoProto) -> str:
    return require_text(value.name, "graph input/output name")


def _props(props: Iterable[onnx.StringStringEntryProto]) -> dict[str, str]:
    return {
        require_text(p.key, "metadata_props"): require_text(p.value, "metadata_props")
        for p in props
    }


def _read_file(path: Path) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelRefused(
            f"model file {path.name!r} does not exist", field="path", expected="an ONNX file"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelRefused(
            f"model path {path.name!r} is not a regular file", field="path", expected="an ONNX file"
        )
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelRefused(
            f"model file {path.name!r} has {info.st_size} bytes",
            field="size",
            expected="at most 2 GiB (keep larger weights in external data files)",
        )
    return path.read_bytes()


def _parse(data: bytes) -> onnx.ModelProto:
    refuse_foreign_formats(data)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise ModelRefused(
            f"the model file is not a valid protobuf ({exc})",
            field="file",
            expected="an ONNX ModelProto (protobuf)",
        ) from None
    if model.ir_version <= 0:
        raise ModelRefused(
            f"ir_version is {model.ir_version}", field="ir_version", expected="a positive version"
        )
    if not model.HasField("graph"):
        raise ModelRefused("the model has no graph", field="graph", expected="a GraphProto")
    if not model.opset_import:
        raise ModelRefused(
            "the model imports no operator set", field="opset_import", expected="at least one"
        )
    return model


def _without_external_references(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose external tensors are empty inline tensors: given a proto, the checker would
    look for external files relative to the working directory (they were confined above)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for tensor in external_tensors(copy):
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
        # An empty tensor needs no value field; shapes are not inferred by this check.
        del tensor.dims[:]
        tensor.dims.append(0)
    return copy


def inspect_model(
    source: str | os.PathLike[str] | bytes, *, folder: str | os.PathLike[str] | None = None
) -> ModelSignature:
    """Parse and check a model given as a path or as bytes; ModelRefused says why not.

    External data is never read, only located: a path's own folder (or `folder` for bytes)
    must contain every referenced file. Bytes with external references and no folder are
    refused, since nothing could be resolved.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        base = Path(folder) if folder is not None else None
    else:
        path = Path(source)
        data = _read_file(path)
        base = Path(folder) if folder is not None else path.parent
    model = _parse(data)
    external = external_tensors(model)
    if base is not None:
        locations = confine_external_data(model, base)
    elif external:
        for tensor in external:
            check_location_syntax(external_entries(tensor).get("location", ""), tensor.name)
        raise ModelRefused(
            f"tensor {external[0].name!r} keeps its data in an external file",
            field="external_data",
            expected="the model folder to resolve external data against",
        )
    else:
        locations = ()
    try:
        onnx.checker.check_model(_without_external_references(model) if external else model)
    except UnicodeDecodeError:
        # The checker's C++ strings reach Python only when it reports them.
        raise ModelRefused(
            "the model has a name or attribute that is not valid UTF-8",
            field="graph",
            expected="UTF-8 text in every string field",
        ) from None
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise ModelRefused(
            f"the ONNX checker refused the model: {first_line}",
            field="graph",
            expected="a model that passes onnx.checker",
        ) from None
    except ValueError as exc:
        # The checker re-parses the bytes in C++, which refuses some messages protobuf's
        # Python parser accepted.
        raise ModelRefused(
            f"the ONNX checker cannot parse the model ({exc})",
            field="file",
            expected="an ONNX ModelProto (protobuf)",
        ) from None
    initializers = {t.name for t in model.graph.initializer}
    metadata = _props(model.graph.metadata_props)
    metadata.update(_props(model.metadata_props))
    return ModelSignature(
        ir_version=model.ir_version,
        opset_imports={
            require_text(o.domain, "opset_import.domain"): o.version for o in model.opset_import
        },
        producer_name=require_text(model.producer_name, "producer_name"),
        producer_version=require_text(model.producer_version, "producer_version"),
        domain=require_text(model.domain, "domain"),
        model_version=model.model_version,
        graph_name=require_text(model.graph.name, "graph.name"),
        doc_string=require_text(model.doc_string, "doc_string"),
        # Before IR 4 initializers were also listed as inputs; they are weights, not inputs.
        inputs=tuple(_spec(v) for v in model.graph.input if v.name not in initializers),
        outputs=tuple(_spec(v) for v in model.graph.output),
        metadata=metadata,
        external_data=locations,
    )
