"""Exports of a local model (for a faster runtime) made once and kept on disk, never used when stale.

An export is a folder named by a key: the digest of every file of the model folder that can change
its answers (weights, configs, tokenizer) and the versions of the libraries that made it. A changed
weight file or an upgraded exporter gives a new key, so a stale export is never read. The folder is
written under a temporary name and renamed into place, so two processes exporting at once never
leave a half-written one; a manifest of the files' digests is checked on every load, so a damaged
file is noticed (and the export made again) instead of giving wrong vectors.

The export lives beside the model (``<model>/.tidb-embed-orm/``); when that folder cannot be
written (a read-only install), in ``$XDG_CACHE_HOME/tidb-embed-orm/`` (``~/.cache`` by default).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from ..exc import EmbeddingUnavailableError

logger = logging.getLogger(__name__)

#: The folder beside (inside) a model folder that holds its exports.
BESIDE_MODEL = ".tidb-embed-orm"
MANIFEST = "export.json"
#: Bumped when the layout of an export changes: older exports are then made again.
LAYOUT = 1
_CHUNK = 1 << 20
#: Files of a model folder that cannot change its vectors.
_IGNORED = ("README.md", ".gitattributes")


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/tidb-embed-orm`` (``~/.cache/...``): where exports go when the model folder is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tidb-embed-orm"


def _digest_file(path: Path) -> str:
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _model_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0].startswith(".") or path.name in _IGNORED or not path.is_file():
            continue
        yield path


def export_key(folder: Path, kind: str, versions: Mapping[str, str]) -> str:
    """The name of ``folder``'s export by ``kind``: a digest of the model's files and the exporter's versions."""
    import xxhash

    parts = {
        "layout": LAYOUT,
        "kind": kind,
        "versions": dict(sorted(versions.items())),
        "files": {str(p.relative_to(folder)): _digest_file(p) for p in _model_files(folder)},
    }
    return xxhash.xxh3_128(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _check(export: Path, key: str) -> str | None:
    """Why the export folder cannot be used (None when it can)."""
    try:
        manifest = json.loads((export / MANIFEST).read_text())
        if manifest.get("key") != key:
            return "its manifest names another model or exporter"
        for name, digest in manifest["files"].items():
            if _digest_file(export / name) != digest:
                return f"{name} does not match its digest"
    except FileNotFoundError as e:
        return f"{Path(e.filename or '?').name} is missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"its manifest cannot be read ({e})"
    return None


def _remove(export: Path) -> None:
    """Move a damaged export out of the way (one rename, so a reader never sees half of it), then delete it."""
    aside = export.with_name(f".damaged-{export.name}-{uuid.uuid4().hex[:8]}")
    try:
        export.rename(aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _publish(root: Path, name: str, key: str, make: Callable[[Path], None]) -> Path:
    """Run ``make`` into a temporary folder under ``root``, write the manifest, rename it to ``root/name``."""
    final = root / name
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".tmp-{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        make(temporary)
        files = {p.name: _digest_file(p) for p in sorted(temporary.iterdir()) if p.is_file()}
        (temporary / MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=1))
        try:
            temporary.rename(final)
        except OSError:
            if _check(final, key) is None:  # another process published the same export first
                return final
            raise
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return final


def cached_export(
    folder: Path, kind: str, versions: Mapping[str, str], make: Callable[[Path], None], label: str
) -> tuple[Path, bool]:
    """The folder of ``folder``'s ``kind`` export, made by ``make(target)`` when no valid one exists.

    Returns the folder and whether it was made now. A damaged export is said (a warning) and made again.
    """
    key = export_key(folder, kind, versions)
    name = f"{kind}-{key}"
    roots = [folder / BESIDE_MODEL, user_cache_root()]
    for root in roots:
        export = root / name
        if not export.exists():
            continue
        problem = _check(export, key)
        if problem is None:
            return export, False
        logger.warning(
            "the cached %s export of %s at %s is damaged (%s): exporting it again", kind, label, export, problem
        )
        _remove(export)
    problems: list[str] = []
    for root in roots:
        try:
            return _publish(root, name, key, make), True
        except OSError as e:  # not writable (a read-only install): try the next place
            logger.info("cannot keep the %s export of %s in %s (%s)", kind, label, root, e)
            problems.append(f"{root} ({e.strerror or e})")
    raise EmbeddingUnavailableError(
        f"cannot keep the {kind} export of {label}: neither {' nor '.join(problems)} can be written; "
        "set XDG_CACHE_HOME to a writable folder, or use the default backend (backend='torch')"
    )
