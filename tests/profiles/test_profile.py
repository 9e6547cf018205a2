"""Reference profiles: statistics against numpy, the JSON format, and strict validation."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelfleet.profile import (
    CATEGORICAL,
    NUMERICAL,
    ProfileError,
    ProfileSettings,
    ReferenceProfile,
    compute_profile,
)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(7)
    x = np.column_stack(
        [
            rng.normal(10, 3, 20_000),
            rng.lognormal(0, 2, 20_000),
            rng.integers(0, 4, 20_000).astype(float),
            np.full(20_000, 5.0),
        ]
    )
    x[::97, 0] = np.nan
    x[5, 0], x[6, 1], x[7, 1] = np.inf, -np.inf, np.nan
    return x


def test_numerical_statistics_match_numpy(data: np.ndarray) -> None:
    profile = compute_profile(data, ["a", "b", "c", "d"])
    for i, feature in enumerate(profile.features):
        column = data[:, i]
        valid = column[np.isfinite(column)]
        assert feature.kind == NUMERICAL
        assert feature.count == 20_000
        assert feature.n_missing == int(np.isnan(column).sum())
        assert feature.n_posinf == int((column == np.inf).sum())
        assert feature.n_neginf == int((column == -np.inf).sum())
        assert feature.n_valid == valid.size
        assert feature.minimum == valid.min() and feature.maximum == valid.max()
        assert feature.mean == pytest.approx(valid.mean(), rel=1e-12)
        assert feature.std == pytest.approx(valid.std(), rel=1e-9, abs=1e-12)
        expected = np.quantile(valid, profile.settings.quantile_levels)
        np.testing.assert_allclose(feature.quantiles, expected, rtol=1e-12, atol=1e-12)
        assert feature.histogram is not None and feature.histogram.sum() == valid.size


def test_histogram_matches_numpy_on_the_same_edges(data: np.ndarray) -> None:
    profile = compute_profile(data[:, :2], ["a", "b"])
    for i, feature in enumerate(profile.features):
        valid = data[:, i][np.isfinite(data[:, i])]
        edges = np.linspace(feature.minimum, feature.maximum, profile.settings.fine_bins + 1)
        expected, _ = np.histogram(valid, edges)
        assert feature.histogram is not None
        # Values within one rounding step of an edge may sit in the neighbouring bin.
        assert np.abs(feature.histogram - expected).sum() <= 4


def test_distinct_values_value_map_and_constant_column(data: np.ndarray) -> None:
    profile = compute_profile(data, ["a", "b", "c", "d"])
    low = profile.feature("c")
    assert low.unique_exact and low.n_unique == 4
    assert sorted(low.values or ()) == [0.0, 1.0, 2.0, 3.0]
    assert sum(low.value_counts) == 20_000
    constant = profile.feature("d")
    assert constant.n_unique == 1 and constant.std == 0.0 and constant.values == (5.0,)
    wide = profile.feature("a")
    assert wide.values is None and not wide.unique_exact and wide.n_unique > 100


def test_sample_is_bounded_and_complete_when_small(data: np.ndarray) -> None:
    settings = ProfileSettings(sample_size=500)
    big = compute_profile(data, ["a", "b", "c", "d"], settings=settings).feature("a")
    assert big.sample.shape == (500,) and not big.sample_is_complete
    assert np.isin(big.sample, data[:, 0]).all()
    small = compute_profile(data[:300], ["a", "b", "c", "d"], settings=settings).feature("b")
    assert small.sample_is_complete
    finite = data[:300, 1][np.isfinite(data[:300, 1])]
    np.testing.assert_array_equal(small.sample, finite)


def test_dataframe_kinds_missing_and_bounded_categories() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([31, None, 40, 52], dtype="Int64"),
            "plan": ["gold", None, "free", "gold"],
            "active": [True, False, True, True],
            "code": [1, 2, 3, 1],
        }
    )
    profile = compute_profile(
        frame, categorical=["code"], settings=ProfileSettings(max_categories=2)
    )
    age, plan, active, code = profile.features
    assert (age.kind, age.n_missing, age.mean) == (NUMERICAL, 1, pytest.approx(41.0))
    assert (plan.kind, plan.n_missing, plan.values, plan.value_counts) == (
        CATEGORICAL,
        1,
        ("gold", "free"),
        (2, 1),
    )
    assert active.kind == NUMERICAL and active.values == (1.0, 0.0)
    assert code.kind == CATEGORICAL and code.values == ("1", "2") and code.other_count == 1


def test_all_nan_column() -> None:
    profile = compute_profile(np.full((50, 1), np.nan), ["empty"])
    feature = profile.features[0]
    assert feature.n_missing == 50 and feature.n_valid == 0
    assert feature.minimum is None and feature.mean is None
    assert all(q is None for q in feature.quantiles)
    ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))


def test_json_round_trip(data: np.ndarray) -> None:
    frame = pd.DataFrame(data, columns=["a", "b", "c", "d"]).assign(plan=["x", "y"] * 10_000)
    profile = compute_profile(frame)
    document = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    assert document["format"] == "modelfleet.reference-profile" and document["version"] == 1
    loaded = ReferenceProfile.from_dict(document)
    assert loaded.to_dict() == profile.to_dict()


def _document() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=200), "plan": ["x", "y"] * 100})
    return compute_profile(frame).to_dict()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(version=2), "profile.version"),
        (lambda d: d.update(format="other"), "profile.format"),
        (lambda d: d.pop("n_rows"), "profile.n_rows"),
        (lambda d: d["settings"].update(fine_bins=0), "profile.settings.fine_bins"),
        (lambda d: d["features"][0].update(kind="text"), "profile.features[0].kind"),
        (lambda d: d["features"][0].update(count=3), "profile.features[0].count"),
        (lambda d: d["features"][0]["histogram"].pop(), "profile.features[0].histogram"),
        (lambda d: d["features"][0].update(mean="x"), "profile.features[0].mean"),
        (lambda d: d["features"][0].update(min=5.0, max=1.0), "profile.features[0].min"),
        (lambda d: d["features"][0]["sample"].append("x"), "profile.features[0].sample"),
        (lambda d: d["features"][1]["value_counts"].append(1), "profile.features[1].value_counts"),
        (lambda d: d["features"][1].update(values=None), "profile.features[1].values"),
        (lambda d: d["features"][1].update(n_missing=-1), "profile.features[1].n_missing"),
        (lambda d: d["features"][1].update(name="a"), "profile.features"),
    ],
)
def test_validation_names_the_bad_field(mutate: Any, field: str) -> None:
    document = copy.deepcopy(_document())
    mutate(document)
    with pytest.raises(ProfileError) as raised:
        ReferenceProfile.from_dict(document)
    assert str(raised.value).startswith(field)


@pytest.mark.parametrize(
    ("data", "names", "message"),
    [
        (np.zeros(5), None, "data: expected a 2-D array"),
        (np.zeros((5, 2)), ["a"], "feature_names: expected 2 names"),
        (np.zeros((5, 2)), ["a", "a"], "feature_names: feature names must be unique"),
        ({"a": [1.0, 2.0], "b": [1.0]}, None, "columns: expected all features"),
    ],
)
def test_bad_input_is_refused_with_the_field(data: Any, names: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        compute_profile(data, names)
