"""CPU quota parsing (cgroup v2 and v1 layouts) and model repository scanning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelfleet.agent.node.cpu import available_cpus, parse_cfs, parse_cpu_max, quota_cpus
from modelfleet.agent.node.repository import (
    RepositoryError,
    latest_version,
    read_config,
    scan,
)


def test_parse_cpu_max() -> None:
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cpu_max("150000 100000\n") == 1.5
    assert parse_cpu_max("garbage") is None


def test_parse_cfs() -> None:
    assert parse_cfs("-1\n", "100000\n") is None
    assert parse_cfs("200000\n", "100000\n") == 2.0


def test_quota_from_cgroup_v2_own_path(tmp_path: Path) -> None:
    own = tmp_path / "system.slice" / "agent.service"
    own.mkdir(parents=True)
    (own / "cpu.max").write_text("50000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(tmp_path, "0::/system.slice/agent.service\n") == 0.5


def test_quota_from_cgroup_v1(tmp_path: Path) -> None:
    folder = tmp_path / "cpu,cpuacct" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("300000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    cgroup = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"
    assert quota_cpus(tmp_path, cgroup) == 3.0


def test_no_quota(tmp_path: Path) -> None:
    assert quota_cpus(tmp_path, "0::/\n") is None
    assert available_cpus() >= 1


def test_scan_skips_non_version_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for folder in ("b/2", "b/10", "a/1", "a/latest", "a/0", "c"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "stray-file").write_text("x")
    with caplog.at_level(logging.WARNING):
        found = scan(tmp_path)
    assert [(v.name, v.version) for v in found] == [("a", "1"), ("b", "2"), ("b", "10")]
    assert "latest" in caplog.text and "/0" in caplog.text
    assert latest_version(tmp_path / "b") == "10"
    assert latest_version(tmp_path / "c") is None
    with pytest.raises(RepositoryError, match="does not exist"):
        scan(tmp_path / "missing")


def test_read_config(tmp_path: Path) -> None:
    assert read_config(tmp_path).feature_names is None
    (tmp_path / "modelfleet.json").write_text(
        '{"feature_names": ["a", "b"], "batching": {"max_batch_size": 8}, "metadata": {"k": 1}}'
    )
    config = read_config(tmp_path)
    assert config.feature_names == ("a", "b")
    assert config.batching == {"max_batch_size": 8}
    assert config.metadata == {"k": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"feature_names": ["a", "a"]}', "distinct strings"),
        ('{"feature_names": "a"}', "distinct strings"),
        ('{"batching": {"max_batch_size": -1}}', "batching.max_batch_size"),
        ('{"batching": {"max_queue_delay_us": "1"}}', "batching.max_queue_delay_us"),
        ('{"batching": {"size": 1}}', "unknown batching keys"),
        ('{"metadata": []}', "metadata must be an object"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "modelfleet.json").write_text(text)
    with pytest.raises(RepositoryError, match=message):
        read_config(tmp_path)
