"""The registry through a real hub: versions from real ONNX files, aliases (audited), search,
comments, archive, concurrency, workspace scoping and every refusal."""

from __future__ import annotations

import base64
import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import pytest
from onnx import TensorProto, helper
from sqlalchemy import Engine

from modelfleet.agent.hub import pki
from modelfleet.client import (
    AlreadyExists,
    AuditFilter,
    FailedPrecondition,
    HubClient,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Role,
)
from modelfleet.onnxinfo import Manifest, ManifestEntry, verify_manifest
from modelfleet.profile import compute_profile
from tests.conftest import RunningHub
from tests.onnxinfo.onnxbuild import add_weights_model, save_external, set_location
from tests.registry.conftest import member, row_counts

FEATURES = [f"f{i:02d}" for i in range(20)]


def profile_json(names: list[str] = FEATURES) -> str:
    data = np.random.default_rng(0).normal(size=(500, len(names)))
    return orjson.dumps(compute_profile(data, names).to_dict()).decode()


def test_versions_aliases_search_and_comments(
    running_hub: RunningHub, admin: HubClient, sample_onnx: Path
) -> None:
    v1 = admin.push_model(
        sample_onnx, "credit-risk", feature_names=FEATURES, reference_profile_json=profile_json(),
        tags={"team": "risk"}, description="first", aliases=["staging"],
    )  # fmt: skip
    assert (v1.model_name, v1.version, v1.aliases) == ("credit-risk", 1, ("staging",))
    sig = v1.signature
    assert [(t.name, t.datatype, t.shape) for t in sig.inputs] == [("input", "FP32", (-1, 20))]
    assert [t.name for t in sig.outputs] == ["label", "probabilities"]
    assert sig.feature_names == tuple(FEATURES) and sig.opset[""] == 17
    assert "skl2onnx" in sig.producer
    assert json.loads(v1.reference_profile_json)["features"][0]["name"] == "f00"
    assert v1.created_by == "admin" and v1.tags == {"team": "risk"}

    # The manifest signature verifies with the hub's key over (model.onnx, digest, size).
    public = pki.load_signing_key(running_hub.data_dir / "keys" / "token-signing.key").public_key()
    manifest = Manifest((ManifestEntry("model.onnx", v1.artifact_sha256, v1.artifact_size),))
    verify_manifest(manifest.to_json(), base64.b64decode(v1.manifest_signature), public)

    v2 = admin.push_model(sample_onnx, "credit-risk")
    assert v2.version == 2 and v2.artifact_sha256 == v1.artifact_sha256
    admin.set_alias("credit-risk", "champion", 1)
    moved = admin.set_alias("credit-risk", "champion", 2)
    assert moved.version == 2 and moved.aliases == ("champion",)
    assert admin.get_version("credit-risk", alias="champion").version == 2
    assert admin.get_version("credit-risk", 1).aliases == ("staging",)
    assert admin.get_model("credit-risk").aliases == {"champion": 2, "staging": 1}
    events = admin.query_audit(AuditFilter(action="Registry.SetAlias")).items
    assert [(json.loads(e.details_json)["old_version"], e.target) for e in events] == [
        (1, "model:credit-risk"),
        (None, "model:credit-risk"),
    ]
    assert json.loads(events[0].details_json)["new_version"] == 2
    admin.delete_alias("credit-risk", "staging")
    assert admin.get_model("credit-risk").aliases == {"champion": 2}
    with pytest.raises(NotFound, match="alias"):
        admin.get_version("credit-risk", alias="staging")

    # Search by name, tag and alias, with cursor pagination (version tags are not model tags).
    assert admin.update_model("credit-risk", tags={"team": "risk"}).tags == {"team": "risk"}
    for name in ("churn-a", "churn-b", "churn-c", "fraud"):
        admin.create_model(name, tags={"team": "growth" if "churn" in name else "risk"})
    with pytest.raises(AlreadyExists):
        admin.create_model("fraud")
    first = admin.list_models("churn", page_size=2)
    assert [m.name for m in first.items] == ["churn-a", "churn-b"] and first.next_page_token
    rest = admin.list_models("churn", page_size=2, page_token=first.next_page_token)
    assert [m.name for m in rest.items] == ["churn-c"] and rest.next_page_token is None
    assert {m.name for m in admin.iter_models(tag="team=risk")} == {"credit-risk", "fraud"}
    assert {m.name for m in admin.iter_models(tag="team")} == {
        "credit-risk", "churn-a", "churn-b", "churn-c", "fraud",
    }  # fmt: skip
    assert [m.name for m in admin.iter_models(alias="champion")] == ["credit-risk"]
    assert [m.name for m in admin.iter_models("_")] == []  # LIKE wildcards are literal

    page = admin.list_versions("credit-risk", page_size=1)
    assert [v.version for v in page.items] == [2] and page.next_page_token
    assert [v.version for v in admin.list_versions("credit-risk").items] == [2, 1]

    admin.add_comment("credit-risk", "looks good")
    admin.add_comment("credit-risk", "AUC dropped?", version=2)
    assert [c.body for c in admin.list_comments("credit-risk")] == ["looks good"]
    (on_v2,) = admin.list_comments("credit-risk", version=2)
    assert (on_v2.target_kind, on_v2.target_id, on_v2.author) == ("version", v2.id, "admin")

    updated = admin.update_version("credit-risk", 1, description="baseline", tags={"k": "v"})
    assert (updated.description, updated.tags) == ("baseline", {"k": "v"})
    assert admin.update_model("credit-risk", description="scores").description == "scores"

    # Archive: a version an alias points at stays; an archived model takes no new versions.
    with pytest.raises(FailedPrecondition, match="champion"):
        admin.archive_version("credit-risk", 2)
    assert admin.archive_version("credit-risk", 1).archived
    assert [v.version for v in admin.list_versions("credit-risk").items] == [2]
    with pytest.raises(FailedPrecondition, match="archived"):
        admin.set_alias("credit-risk", "staging", 1)
    admin.archive_model("fraud")
    assert "fraud" not in {m.name for m in admin.iter_models()}
    assert "fraud" in {m.name for m in admin.iter_models(include_archived=True)}
    with pytest.raises(FailedPrecondition, match="archived"):
        admin.push_model(sample_onnx, "fraud")


def test_roles_and_workspace_scoping(
    running_hub: RunningHub, admin: HubClient, sample_onnx: Path
) -> None:
    admin.push_model(sample_onnx, "credit-risk")
    developer = member(running_hub, admin, "dev", Role.DEVELOPER)
    viewer = member(running_hub, admin, "watcher", Role.VIEWER)
    with developer, viewer:
        assert developer.push_model(sample_onnx, "credit-risk", aliases=["staging"]).version == 2
        # Production aliases are a workspace admin's call; the refusal is audited.
        with pytest.raises(PermissionDenied, match="champion"):
            developer.set_alias("credit-risk", "champion", 2)
        with pytest.raises(PermissionDenied, match="champion"):
            developer.push_model(sample_onnx, "credit-risk", aliases=["champion"])
        with pytest.raises(PermissionDenied):
            developer.archive_model("credit-risk")
        with pytest.raises(PermissionDenied):
            viewer.set_alias("credit-risk", "staging", 1)
        with pytest.raises(PermissionDenied):
            viewer.create_version("credit-risk", "0" * 64)
        assert viewer.get_version("credit-risk", alias="staging").version == 2
        assert viewer.add_comment("credit-risk", "reviewed").author == "watcher"
    refused = admin.query_audit(AuditFilter(action="Registry.SetAlias", actor="dev")).items
    assert refused and refused[0].outcome == "error"

    # Another workspace sees none of it, by name or by digest.
    admin.create_workspace("elsewhere")
    sha256 = admin.get_version("credit-risk", 1).artifact_sha256
    with pytest.raises(NotFound):
        admin.get_model("credit-risk", workspace="elsewhere")
    with pytest.raises(NotFound):
        admin.set_alias("credit-risk", "staging", 1, workspace="elsewhere")
    with pytest.raises(NotFound, match="artifact_sha256"):
        admin.create_version("credit-risk", sha256, create_model=True, workspace="elsewhere")
    assert list(admin.iter_models(workspace="elsewhere")) == []


def _upload(admin: HubClient, tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / f"{name}.upload"
    path.write_bytes(content)
    return admin.upload_artifact(path).sha256


def test_every_refusal_stores_nothing(
    running_hub: RunningHub, admin: HubClient, sample_onnx: Path, tmp_path: Path, db: Engine
) -> None:
    good = admin.upload_artifact(sample_onnx).sha256
    escaping = save_external(add_weights_model(), _mkdir(tmp_path / "escaping-model"))
    set_location(escaping, "../../etc/passwd")
    missing = save_external(add_weights_model(), _mkdir(tmp_path / "missing-model"))
    node = helper.make_node("Relu", ["x"], ["y"])
    unchecked = helper.make_model(
        helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )  # fmt: skip
    bad_files = {
        "pickle": (pickle.dumps({"weights": [1, 2]}, protocol=4), "pickle"),
        "text": (b"this is not a model\n", "ModelProto"),
        "zip": (b"PK\x03\x04" + bytes(40), "file"),
        "escaping": (escaping.read_bytes(), "'..'"),
        "missing-external": (missing.read_bytes(), "does not exist in the model folder"),
        "checker": (unchecked.SerializeToString(), "ONNX checker"),
    }
    before = row_counts(db)
    for label, (content, fragment) in bad_files.items():
        sha256 = _upload(admin, tmp_path, label, content)
        with pytest.raises(InvalidArgument) as refused:
            admin.create_version(f"m-{label}", sha256, create_model=True)
        assert refused.value.field == "artifact_sha256", label
        assert fragment in refused.value.message, (label, refused.value.message)
    after = row_counts(db)
    assert after["workspace_artifacts"] == before["workspace_artifacts"] + len(bad_files)
    assert {k: v for k, v in after.items() if k != "workspace_artifacts"} == {
        k: v for k, v in before.items() if k != "workspace_artifacts"
    }

    cases: list[tuple[dict[str, object], str]] = [
        ({"feature_names": ["a", "b"]}, "feature_names"),
        ({"feature_names": ["a"] * 20}, "feature_names"),
        ({"reference_profile_json": "{not json"}, "reference_profile_json"),
        ({"reference_profile_json": '{"format": "other"}'}, "reference_profile_json"),
        (
            {"feature_names": FEATURES, "reference_profile_json": profile_json(["zz"])},
            "reference_profile_json.features[0].name",
        ),
        ({"aliases": ["Champion!"]}, "aliases[0]"),
        ({"aliases": ["7"]}, "aliases[0]"),
        ({"aliases": ["a", "a"]}, "aliases"),
        ({"tags": {"": "x"}}, "tags"),
        ({"source_run_id": "no spaces allowed"}, "source_run_id"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidArgument) as refused:
            admin.create_version("refused", good, create_model=True, **kwargs)  # type: ignore[arg-type]
        assert refused.value.field == field, (kwargs, refused.value.message)
    with pytest.raises(InvalidArgument) as refused:
        admin.create_version("Bad Name", good, create_model=True)
    assert refused.value.field == "model_name"
    with pytest.raises(InvalidArgument) as refused:
        admin.create_version("refused", "abc", create_model=True)
    assert refused.value.field == "artifact_sha256"
    with pytest.raises(NotFound, match="source_run_id"):
        admin.create_version("refused", good, create_model=True, source_run_id="nosuchrun")
    with pytest.raises(NotFound, match="model_name"):
        admin.create_version("refused", good)
    assert row_counts(db) == after
    admin.create_model("kept")
    with pytest.raises(InvalidArgument) as refused:
        admin.update_model("kept")
    assert refused.value.field == "update_mask"
    with pytest.raises(InvalidArgument) as refused:
        admin.set_alias("kept", "staging", 0)
    assert refused.value.field == "version"
    with pytest.raises(InvalidArgument) as refused:
        admin.add_comment("kept", "   ")
    assert refused.value.field == "body"
    with pytest.raises(InvalidArgument) as refused:
        admin.list_models(page_token="!!not-a-token")
    assert refused.value.field == "page.page_token"


def test_concurrent_versions_are_numbered_without_gaps(
    running_hub: RunningHub, admin: HubClient, sample_onnx: Path
) -> None:
    sha256 = admin.upload_artifact(sample_onnx).sha256

    def create(i: int) -> int:
        # The model does not exist yet: the first creations race to create it too.
        return admin.create_version("raced", sha256, create_model=True, tags={"i": str(i)}).version

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = sorted(pool.map(create, range(16)))
    assert numbers == list(range(1, 17))
    assert admin.get_model("raced").latest_version == 16


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_lineage_is_copied_from_the_source_run(
    running_hub: RunningHub, admin: HubClient, sample_onnx: Path
) -> None:
    run = admin.create_run("churn", params={"C": "0.5", "penalty": "l2"})
    version = admin.push_model(sample_onnx, "churn-model", source_run_id=run.id)
    assert version.source_run_id == run.id
    assert version.source_experiment_id == run.experiment_id
    assert version.params == {"C": "0.5", "penalty": "l2"}
    admin.create_workspace("elsewhere")
    sha256 = admin.upload_artifact(sample_onnx, workspace="elsewhere").sha256
    with pytest.raises(NotFound, match="source_run_id"):
        admin.create_version(
            "churn-model", sha256, create_model=True, source_run_id=run.id, workspace="elsewhere"
        )
