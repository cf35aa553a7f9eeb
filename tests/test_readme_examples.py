"""The README's asyncio and SQLModel examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def example(heading: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def run(code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_asyncio_example(tmp_path):
    assert run(example("asyncio"), tmp_path).strip() == "[1, 4]"
    assert (tmp_path / "dev.db").exists()


def test_the_sqlmodel_example(tmp_path):
    code = example("SQLModel, and coming from pytidb") + (
        "\nfrom sqlalchemy import create_engine\n"
        "from tidb_embed_orm.testing.seed import add_seed_rows\n"
        "engine = create_engine('sqlite+tidb_embed:///dev.db')\n"
        "SQLModel.metadata.create_all(engine)\n"
        "with Session(engine) as session:\n"
        "    add_seed_rows(session, Sample)\n"
        "    print([s.id for s in session.exec(select(Sample).order_by("
        "Sample.embedding.cosine_distance('How to start learning Java programming?')).limit(2))])\n"
    )
    assert run(code, tmp_path).strip() == "[1, 4]"
