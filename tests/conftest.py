"""Shared test setup: verify the IR after every pass, quiet TensorFlow, and a golden-file helper."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["NNSPEC_VERIFY_PASSES"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def golden(request):
    """`golden(path, text)`: compare `text` with the checked-in file, or rewrite it with --update-goldens."""

    def check(path: Path, text: str) -> None:
        if request.config.getoption("--update-goldens") or not path.exists():
            path.write_text(text, encoding="utf-8")
            if not request.config.getoption("--update-goldens"):
                pytest.fail(f"golden file {path.name} was missing and has been written; review and commit it")
        assert text == path.read_text(encoding="utf-8"), f"output differs from golden file {path}"

    return check
