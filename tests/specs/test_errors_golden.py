"""Broken specs give exactly the diagnostics pinned in tests/golden/bad_*.errors.txt: the right line and column,
every problem at once, exit code 2, and never a traceback. Regenerate with `pytest --update-goldens`."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from nnspec.cli import main

from ..conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
BAD = sorted(p.name for p in GOLDEN.glob("bad_*.yaml"))


def test_there_are_a_dozen_broken_specs():
    assert len(BAD) >= 12


@pytest.mark.parametrize("name", BAD)
def test_diagnostics_match_golden(name, golden, monkeypatch):
    monkeypatch.chdir(ROOT)  # diagnostics name the file as given: keep it relative, so goldens are portable
    result = CliRunner().invoke(main, ["check", f"tests/golden/{name}"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("nnspec: ") and lines[-1].endswith("found.")
    for line in lines[:-1]:  # every diagnostic is `file:line:col: path: message`
        assert re.match(rf"tests/golden/{name}:\d+:\d+: ", line), line
    golden(GOLDEN / name.replace(".yaml", ".errors.txt"), result.stderr)
