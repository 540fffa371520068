"""`nnspec demo` end to end on a short schedule: every step runs and the report is real."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nnspec.cli import main

pytestmark = [pytest.mark.keras, pytest.mark.onnx]


def test_demo_runs_every_step_and_reports(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    for step in ("== check", "== summary", "== train", "== export", "== report"):
        assert step in result.stdout
    assert (out / "run" / "model.keras").is_file() and (out / "digits_cnn.onnx").is_file()
    report = result.stdout.split("== report", 1)[1]
    assert "test accuracy" in report and "parity" in report and "ONNX file" in report
    # Running it again replaces the previous demo output instead of failing.
    again = CliRunner().invoke(main, ["demo", "--out", str(out), "--epochs", "1"])
    assert again.exit_code == 0, again.output
