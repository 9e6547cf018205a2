"""`modelfleet.log_model`: convert (verified), profile the training data, upload, register."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import orjson

from modelfleet.client import HubClient, ModelVersion
from modelfleet.sdk._connect import current_client
from modelfleet.sdk._run import ActiveRun, active_run


def log_model(
    model: Any,
    name: str,
    *,
    sample_input: Any,
    reference_data: Any = None,
    feature_names: Sequence[str] | None = None,
    categorical: Collection[str] = (),
    alias: str | Sequence[str] = (),
    description: str = "",
    run: ActiveRun | None = None,
    client: HubClient | None = None,
) -> ModelVersion:
    """Register `model` as the next version of `name` (created when missing).

    The model (scikit-learn, XGBoost, LightGBM, PyTorch or ONNX) is converted to ONNX and
    its outputs checked against the native model on `sample_input` (ConversionMismatch
    says by how much when they differ); `reference_data` (usually the training features)
    becomes the version's reference profile for drift monitoring. The version records
    the run (`run`, or the active one) as its source, with that run's latest metrics and
    params; `alias` points one or more aliases at the new version.
    """
    from modelfleet.convert import to_onnx

    source = run if run is not None else active_run()
    hub = client or (source.client if source is not None else current_client())
    converted = to_onnx(model, sample_input, feature_names=feature_names, name=name)
    names = converted.feature_names or tuple(feature_names or ())
    profile = ""
    if reference_data is not None:
        from modelfleet.profile import compute_profile

        reference = compute_profile(reference_data, names or None, categorical=categorical)
        profile = orjson.dumps(reference.to_dict()).decode()
    if source is not None:
        # The version copies the run's latest metrics: store what was logged so far.
        source.flush()
    aliases = [alias] if isinstance(alias, str) else list(alias)
    with tempfile.TemporaryDirectory(prefix="modelfleet-model-") as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(converted.onnx_bytes)
        version = hub.push_model(
            path, name, aliases=aliases, feature_names=names, reference_profile_json=profile,
            source_run_id=source.id if source is not None else "", description=description,
        )  # fmt: skip
    if source is not None:
        source.set_tag(f"modelfleet.model.{name}", str(version.version))
    return version
