"""scripts/setup-venv reuses an up-to-date .venv: no pip (and no network) while nothing changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def project(tmp_path: Path) -> Path:
    """A copy of the script and pyproject.toml, with a .venv whose python only records its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup-venv", tmp_path / "scripts" / "setup-venv")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "calls.log"}\n')
    python.chmod(0o755)
    return tmp_path


def setup(root: Path, extras: str) -> list[str]:
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    subprocess.run([str(root / "scripts" / "setup-venv"), extras], check=True, capture_output=True)
    return log.read_text().splitlines() if log.exists() else []


def test_an_up_to_date_venv_is_reused_and_a_change_reinstalls(tmp_path):
    root = project(tmp_path)
    assert setup(root, "local") == ["-c import torch", "-m pip install -q -e .[local]"]  # no stamp yet
    assert setup(root, "local") == []  # warm: nothing runs
    assert setup(root, "local,test")[-1] == "-m pip install -q -e .[local,test]"  # a new extra
    assert setup(root, "test") == [] and setup(root, "local") == []  # both installed: no ping-pong
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a changed dependency\n")
    assert setup(root, "local")[-1] == "-m pip install -q -e .[local,test]"  # pyproject changed
    assert setup(root, "local") == []
