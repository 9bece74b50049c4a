"""`stockflow vision train` for real, kept small: one epoch of ultralytics YOLO from its YAML
on 8 generated photos, offline, as a flow on a Prefect server; the exported ONNX model runs on
the edge detector and its report says how it was made.

The module shares one Prefect server (`module_prefect_server`); a test keeps its files in its
own folder and reads back only the flow runs that wrote to its own model folder."""

import json
import os
import subprocess
import sys

import pytest

from tests.support.vision import damaged_and_sound

pytestmark = pytest.mark.integration


def test_one_epoch_trains_exports_and_reports(module_prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from vision.detector import Detector

    models = tmp_path / "models"
    args = ["--epochs", "1", "--train-photos", "8", "--val-photos", "4", "--batch", "4", "--held-out", "6"]
    env = {
        **os.environ,
        "STOCKFLOW_VAR_DIR": str(tmp_path / "var"),
        "STOCKFLOW_PREFECT_PORT": str(module_prefect_server.prefect_port),
        "HOME": str(tmp_path),  # nothing of ultralytics' may land in the user's home
    }
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "vision", "train", *args, "--model-dir", str(models)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "starting a Prefect server" not in run.stderr  # it used the running one

    report = json.loads((models / "pallet-yolo11n-320.json").read_text())
    assert report["command"] == "stockflow vision train " + " ".join(args) + f" --model-dir {models}"
    assert report["config"]["epochs"] == 1 and report["config"]["imgsz"] == 320
    assert report["validation"]["epochs"] == 1
    assert report["held_out"]["photos"] == 6 and report["held_out"]["ordinary_photos"] == 2
    assert (models / "pallet-yolo11n-320.pt").exists()
    assert not (tmp_path / ".config").exists() and not list(
        tmp_path.glob("*.pt")
    )  # no downloads, no settings

    detector = Detector(models / "pallet-yolo11n-320.onnx")  # reads its input size from the report
    assert detector.imgsz == 320
    (photo, _), _, _ = damaged_and_sound()
    assert isinstance(detector.detect(photo), list)  # one epoch finds little; it must run

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs()

    import asyncio

    with temporary_settings(updates={PREFECT_API_URL: module_prefect_server.prefect_api_url}):
        flow_runs = asyncio.run(runs())
    ours = [r for r in flow_runs if r.parameters.get("model_dir") == str(models)]
    assert [r.state.type.value for r in ours] == ["COMPLETED"]
