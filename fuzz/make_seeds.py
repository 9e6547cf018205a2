"""Write the seed corpora of every harness from real models and real requests.

Usage: python fuzz/make_seeds.py [OUT]   (default: fuzz/seeds; one folder per harness)
"""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from _models import (
    SAMPLE,
    external_data_model,
    grpc_requests,
    identity_model,
    rest_bodies,
    write_repository,
)
from onnx import TensorProto

HERE = Path(__file__).resolve().parent


def oip_seeds() -> list[bytes]:
    seeds = []
    for _model, body, header in rest_bodies():
        if header is None:
            seeds.append(b"\x00" + body)
        else:
            seeds.append(b"\x01" + header.to_bytes(2, "little") + body)
    seeds += [b"\x02" + request for request in grpc_requests()]
    seeds.append(b'\x00{"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[300]}]}')
    seeds.append(b'\x00{"inputs":[{"name":"x","datatype":"UINT64","shape":[1],"data":[1e30]}]}')
    return seeds


def _http(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: agent\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def rest_seeds() -> list[bytes]:
    requests = [
        _http("GET", "/v2"),
        _http("GET", "/v2/health/live"),
        _http("GET", "/v2/health/ready"),
        _http("GET", f"/v2/models/{SAMPLE}"),
        _http("GET", f"/v2/models/{SAMPLE}/versions/1/ready"),
        _http("GET", f"/v1/models/{SAMPLE}/openapi.json"),
        _http("GET", "/metrics"),
        _http("DELETE", "/v2/models/echo-int8/infer"),
    ]
    for model, body, header in rest_bodies():
        extra = "" if header is None else f"Inference-Header-Content-Length: {header}\r\n"
        requests.append(_http("POST", f"/v2/models/{model}/infer", body, extra))
    features = ", ".join(f'"f{i:02d}": {i / 10}' for i in range(20))
    predict = f'{{"instances": [{{{features}}}]}}'.encode()
    requests.append(_http("POST", f"/v1/models/{SAMPLE}/predict", predict))
    chunked = b"POST /v2/models/echo-int8/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b'{"inputs":[{"name":"x","datatype":"INT8","shape":[1,3],"data":[1,2,3]}]}'
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    requests.append(chunked)
    seeds = [b"\x00" + r for r in requests]
    seeds.append(b"\x00" + requests[0] + requests[-1] + requests[1])  # pipelined
    seeds.append(b"\xc3" + requests[8])  # fed in 4-byte chunks
    return seeds


def onnx_seeds(work: Path) -> list[bytes]:
    models = write_repository(work / "models")
    seeds = [b"\x00" + (models / SAMPLE / "1" / "model.onnx").read_bytes()]
    seeds += [b"\x00" + identity_model(t).SerializeToString() for t in (TensorProto.FLOAT,)]
    for location in ("weights.bin", "sub/hard.bin", "outside.bin", "../secret.bin"):
        model = external_data_model()
        model.graph.initializer[0].external_data[0].value = location
        seeds.append(b"\x01" + model.SerializeToString())
    seeds.append(b"\x00" + pickle.dumps({"weights": [1.0]}, protocol=0))
    seeds.append(b"\x00" + pickle.dumps({"weights": [1.0]}, protocol=4))
    return seeds


def _members(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def archive_seeds(work: Path) -> list[bytes]:
    folder = write_repository(work / "archive") / SAMPLE / "1"
    seeds = []
    for mode in ("w", "w:gz", "w:xz"):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode=mode) as archive:
            archive.add(folder, arcname=".")
        seeds.append(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"model/{path.name}")
    seeds.append(buffer.getvalue())
    described = [
        [b"d model", b"f model/model.onnx=onnx", b"h model/copy.onnx=model/model.onnx"],
        [b"f ../escape.txt=x"],
        [b"f ../../escape.txt=x"],
        [b"f /tmp/absolute.txt=x"],
        [b"s link=../../"],
        [b"s link=/etc", b"f link/passwd=x"],
        [b"f a/b=1", b"f a=2"],
        [b"h evil=../../input.archive"],
        [b"f C:/windows.txt=x", b"f a\\..\\..\\b=x"],
    ]
    for lines in described:
        seeds.append(b"\xff" + _members(lines))
        seeds.append(b"\xfe" + _members(lines))
    return seeds


def write(out: Path) -> dict[str, int]:
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpora = {
            "oip_decode": oip_seeds(),
            "rest_request": rest_seeds(),
            "onnx_signature": onnx_seeds(work),
            "safe_extract": archive_seeds(work),
        }
    for name, seeds in corpora.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            (folder / hashlib.sha256(seed).hexdigest()[:40]).write_bytes(seed)
        counts[name] = len(seeds)
    return counts


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "seeds"
    print(write(target))
