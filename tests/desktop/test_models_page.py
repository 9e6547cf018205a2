"""The Models page against a real hub: search, versions, signature, profile histograms,
lineage to the source run, an alias move that asks first, comments, download, Deploy…"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.client import HubClient, ModelVersion
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.widgets.models_page import ModelsPage
from modelfleet.desktop.widgets.prompts import Prompts
from modelfleet.profile import compute_profile
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_admin import Confirmations, confirmations
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
__all__ = ["confirmations", "seed_models"]

FEATURES = [f"f{i:02d}" for i in range(20)]


def seed_models(client: HubClient, root: Path) -> list[ModelVersion]:
    """Model "credit-risk" v1 and v2 (v2 from a run, with a reference profile; alias
    production on v1) and an unrelated model "churn"."""
    rng = np.random.default_rng(5)
    data = rng.normal(size=(2000, 20))
    data[:, 1] = rng.exponential(2.0, 2000)
    profile = json.dumps(compute_profile(data, FEATURES).to_dict())
    run = client.create_run("credit", name="logreg-v2", params={"C": "0.5"})
    versions = []
    for version in (1, 2):
        path = write_sample_model(root, "credit-risk", version, seed=version) / "model.onnx"
        versions.append(client.push_model(
            path, "credit-risk", feature_names=FEATURES,
            reference_profile_json=profile if version == 2 else "",
            source_run_id=run.id if version == 2 else "",
            aliases=("production",) if version == 1 else (),
            description=f"release {version}",
        ))  # fmt: skip
    client.push_model(path, "churn", feature_names=FEATURES)
    return versions


def test_models_page_browses_moves_aliases_comments_downloads_and_deploys(
    running_hub: RunningHub, desktop: Desktop, qtbot, tmp_path: Path,
    confirmations: Confirmations, monkeypatch,
) -> None:  # fmt: skip
    with admin_client(running_hub, "default") as client:
        _v1, v2 = seed_models(client, tmp_path / "models")
    vm = desktop.models
    page = desktop.window.page(2)
    assert isinstance(page, ModelsPage)
    desktop.shell.select_key("models")
    sign_in(desktop, qtbot, running_hub)
    qtbot.waitUntil(lambda: page.models_list.count() == 2, timeout=TIMEOUT_MS)

    # Search on the hub.
    page.search_edit.setText("credit")
    page.search_edit.returnPressed.emit()
    qtbot.waitUntil(lambda: page.models_list.count() == 1, timeout=TIMEOUT_MS)
    page.models_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: page.versions_model.rowCount() == 2, timeout=TIMEOUT_MS)
    assert page.versions_model.rows[1][:2] == ("v1", "production")
    assert "production → v1" in page.model_label.text()

    # v2: signature, profile histograms, lineage.
    with qtbot.waitSignal(vm.detailChanged, timeout=TIMEOUT_MS):
        page.versions_table.selectRow(0)
    assert vm.detail.version.version == 2
    assert page.signature_model.rows[0] == ("input", "input", "FP32", "?x20")
    assert page.feature_combo.count() == 20
    page.feature_combo.setCurrentIndex(1)
    heights = page.bars.opts["height"]
    assert heights.sum() == 2000 and len(heights) == 40
    assert page.feature_label.text().startswith("f01 (numerical): mean")
    with qtbot.waitSignal(desktop.experiments.selectionChanged, timeout=TIMEOUT_MS) as opened:
        qtbot.mouseClick(page.lineage_button, Qt.MouseButton.LeftButton)
    assert opened.args[0][0].id == v2.source_run_id
    assert desktop.shell.current == 1  # the Experiments page shows the run
    desktop.shell.select_key("models")

    # Moving "production" to v2 says what it does; declining changes nothing.
    page.alias_combo.setCurrentText("production")
    confirmations.answer = False
    qtbot.mouseClick(page.alias_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked == ["Move alias"]
    confirmations.answer = True
    with qtbot.waitSignal(vm.versionsChanged, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.alias_button, Qt.MouseButton.LeftButton)
    assert page.status_label.text() == "Alias 'production' now points at version 2."
    assert vm.alias_move("production", 1).startswith(
        "Move the alias 'production' of credit-risk from version 2 to version 1."
    )
    with admin_client(running_hub, "default") as client:
        assert client.get_version("credit-risk", alias="production").version == 2

    # Comment on v2, then download it (digest-verified, progress shown).
    with qtbot.waitSignal(vm.detailChanged, timeout=TIMEOUT_MS):
        page.versions_table.selectRow(0)
    page.comment_edit.setText("approved by risk")
    with qtbot.waitSignal(vm.detailChanged, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.comment_button, Qt.MouseButton.LeftButton)
    assert "approved by risk" in page.comments_list.item(0).text()
    target = tmp_path / "download" / "credit-v2.onnx"
    target.parent.mkdir()
    monkeypatch.setattr(Prompts, "save_path_hook", lambda _title, _name: str(target))
    with qtbot.waitSignal(vm.downloaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == v2.artifact_sha256
    assert page.progress.value() == page.progress.maximum() == v2.artifact_size

    # Deploy… hands the version to the deploy dialog.
    with qtbot.waitSignal(vm.deployRequested, timeout=TIMEOUT_MS) as asked:
        qtbot.mouseClick(page.deploy_button, Qt.MouseButton.LeftButton)
    assert asked.args == ["credit-risk", 2]

    # A version without a profile says so; errors are readable sentences.
    with qtbot.waitSignal(vm.detailChanged, timeout=TIMEOUT_MS):
        page.versions_table.selectRow(1)
    assert page.feature_label.text() == "This version has no reference profile."
    assert not page.lineage_button.isEnabled()
    with qtbot.waitSignal(desktop.shell.messageChanged, timeout=TIMEOUT_MS) as message:
        vm.select_model("no-such-model")
    assert "no-such-model" in message.args[0] and "Traceback" not in message.args[0]
