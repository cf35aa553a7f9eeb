"""MkDocs hook (mkdocs.yml ``hooks:``): the docs' own fence words, rendered as plain fences.

``python notest`` marks a block tests/test_docs_examples.py does not run; on the site it is an
ordinary Python block. ``output`` is what the block before it printed; shown as plain text.
"""

from __future__ import annotations

import re
from typing import Any

_NOTEST = re.compile(r"^([ ]*)```python notest[ ]*$", re.M)
_OUTPUT = re.compile(r"^([ ]*)```output[ ]*$", re.M)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Rewrite ```` ```python notest ```` to ```` ```python ```` and ```` ```output ```` to ```` ```text ````."""
    return _OUTPUT.sub(r"\1```text", _NOTEST.sub(r"\1```python", markdown))
