"""`modelfleet drift report` end to end on real CSV and parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelfleet.cli import main


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(8)
    n = 3000
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "plan": rng.choice(["free", "pro"], n),
        }
    )
    same = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "plan": rng.choice(["free", "pro"], n),
        }
    )
    shifted = same.assign(age=same["age"] + 15, plan="enterprise")
    ref.to_csv(tmp_path / "ref.csv", index=False)
    same.to_parquet(tmp_path / "same.parquet")
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    return tmp_path / "ref.csv", tmp_path / "same.parquet", tmp_path / "shifted.csv"


def test_json_verdicts_and_exit_code(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, same, shifted = files
    args = ["drift", "report", "--reference", str(ref), "--json", "--fail-on-drift"]
    assert main([*args, "--current", str(same)]) == 0
    calm = json.loads(capsys.readouterr().out)
    assert calm["dataset_drifted"] is False and calm["n_drifted"] == 0
    out = tmp_path / "report.html"
    assert main([*args, "--current", str(shifted), "--out", str(out)]) == 3
    result = json.loads(capsys.readouterr().out)
    assert result["dataset_drifted"] is True and result["share_drifted"] == pytest.approx(2 / 3)
    by_name = {f["name"]: f for f in result["features"]}
    assert by_name["age"]["method"] == "wasserstein" and by_name["age"]["drifted"]
    assert by_name["plan"]["method"] == "jensenshannon" and by_name["plan"]["drifted"]
    assert not by_name["income"]["drifted"] and by_name["income"]["threshold"] == 0.1
    html = out.read_text(encoding="utf-8")
    assert html.count("<svg") == 3 and "DRIFT DETECTED" in html
    assert "<script" not in html and "src=" not in html and "href='http" not in html
    assert main(["drift", "report", "--reference", str(ref), "--current", str(shifted)]) == 0


def test_bad_files_are_reported(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _, _ = files
    assert main(["drift", "report", "--reference", str(ref), "--current", "nope.csv"]) == 2
    assert "--current: no such file: nope.csv" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    pd.DataFrame({"age": [1.0, 2.0]}).to_csv(other, index=False)
    assert main(["drift", "report", "--reference", str(ref), "--current", str(other)]) == 2
    assert "missing feature(s) ['income', 'plan']" in capsys.readouterr().err
    text = tmp_path / "ref.json"
    text.write_text("{}")
    assert main(["drift", "report", "--reference", str(text), "--current", str(ref)]) == 2
    assert "--reference: expected a .csv or .parquet file" in capsys.readouterr().err


def test_plain_report_names_every_feature_before_the_verdict(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _, shifted = files
    assert main(["drift", "report", "--reference", str(ref), "--current", str(shifted)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FEATURE", "METHOD", "STATISTIC", "THRESHOLD", "DRIFTED"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["age"][1:2] == ["wasserstein"] and rows["age"][3:] == ["0.1", "yes"]
    assert rows["plan"][1] == "jensenshannon" and rows["plan"][4] == "yes"
    assert rows["income"][4] == "no" and float(rows["income"][2]) < 0.1
    assert lines[4].startswith("drift detected: 2/3 features drifted")
    assert len(lines) == 5
