"""Every ```python block of docs/**/*.md runs, as a reader would run the page.

The convention (HELPERS.md, docs/contributing.md): the python blocks of one page run in order in one
fresh Python process, cwd a temporary directory, the repo on PYTHONPATH, offline. An ```output block
right after a python block (nothing but blank lines between) must equal what that block printed
(trailing whitespace of each line and blank lines at the ends ignored). ```python notest blocks are
not run (live TiDB, live keys); every other fence (sql, bash, text) is prose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)

#: Runs in the page's process: executes the blocks in order, capturing each one's stdout.
RUNNER = r'''
import contextlib, io, json, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
printed = []
for block in blocks:
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(block["code"], block["where"], "exec"), namespace)
    except BaseException:
        sys.stderr.write(f"{block['where']} failed:\n{traceback.format_exc()}")
        sys.exit(1)
    printed.append(buffer.getvalue())
json.dump(printed, open(sys.argv[2], "w", encoding="utf-8"))
'''


@dataclass
class Block:
    line: int
    code: str
    expected: str | None  # the ```output block after it, if any


def dedent(body: str, indent: str) -> str:
    return "".join(line[len(indent):] if line.startswith(indent) else line for line in body.splitlines(True))


def page_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks: list[Block] = []
    previous_end = None
    for match in FENCE.finditer(text):
        info = match["info"].strip().split()
        body = dedent(match["body"], match["indent"])
        between = text[previous_end:match.start()] if previous_end is not None else None
        if info[:1] == ["output"]:
            if not blocks or between is None or between.strip() or blocks[-1].expected is not None:
                line = text.count("\n", 0, match.start()) + 1
                raise AssertionError(f"{page.relative_to(REPO)}:{line}: an output block must follow a python block")
            blocks[-1].expected = body
        elif info == ["python"]:
            blocks.append(Block(text.count("\n", 0, match.start()) + 2, body, None))
        previous_end = match.end() if info == ["python"] or info[:1] == ["output"] else None
    return blocks


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


PAGES = sorted(DOCS.rglob("*.md"))


def page_param(page: Path):
    # pages that embed with the real all-MiniLM-L6-v2 need torch + sentence-transformers
    needs_model = "all-MiniLM-L6-v2" in page.read_text(encoding="utf-8")
    return pytest.param(page, id=str(page.relative_to(DOCS)), marks=[pytest.mark.real_model] if needs_model else [])


def test_the_pages_are_found_and_parsed():
    assert DOCS / "index.md" in PAGES
    blocks = page_blocks(DOCS / "index.md")
    assert blocks and any(b.expected is not None for b in blocks)


@pytest.mark.parametrize("page", [page_param(p) for p in PAGES])
def test_page_examples_run(page, tmp_path):
    blocks = page_blocks(page)
    if not blocks:
        pytest.skip("no python blocks")
    where = str(page.relative_to(REPO))
    (tmp_path / "blocks.json").write_text(
        json.dumps([{"code": b.code, "where": f"{where}:{b.line}"} for b in blocks]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    work = tmp_path / "cwd"
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / "blocks.json"), str(tmp_path / "out.json")],
                            cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    printed = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    for block, output in zip(blocks, printed, strict=True):
        if block.expected is not None:
            assert normalize(output) == normalize(block.expected), f"{where}:{block.line} printed something else"


def test_the_readme_is_a_front_door_whose_links_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme) < 8000
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/index.md" in links
    assert [link for link in links if "://" not in link and not (REPO / link).exists()] == []
