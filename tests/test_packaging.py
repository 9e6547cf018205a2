"""The distribution maps its folders to import names and ships its command lines."""

from __future__ import annotations

import subprocess
import sys

import modelfleet
from modelfleet.cli import main as cli_main


def test_import_names_map_to_folders() -> None:
    import modelfleet.agent
    import modelfleet.desktop
    from modelfleet.proto.inference import grpc_predict_v2_pb2

    assert modelfleet.__file__ is not None and "shared" in modelfleet.__file__
    assert modelfleet.agent.__file__ is not None and "agent" in modelfleet.agent.__file__
    assert modelfleet.desktop.__file__ is not None and "desktop" in modelfleet.desktop.__file__
    assert grpc_predict_v2_pb2.DESCRIPTOR.package == "inference"


def test_console_scripts_answer_version() -> None:
    for module in ("modelfleet.cli", "modelfleet.agent.cli"):
        out = subprocess.run(
            [sys.executable, "-c", f"import sys, {module} as m; sys.exit(m.main(['--version']))"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert modelfleet.__version__ in out.stdout


def test_cli_without_command_prints_help_and_exits_2() -> None:
    assert cli_main([]) == 2
