"""The export cache by itself: two processes exporting at once, and a folder's key (no model needed)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tidb_embed_orm.embedders.export_cache import BESIDE_MODEL, cached_export
from tidb_embed_orm.exc import EmbeddingUnavailableError


def model_folder(root: Path) -> Path:
    (root / "model").mkdir(parents=True)
    (root / "model" / "config.json").write_text('{"hidden_size": 8}')
    (root / "model" / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    return root / "model"


def test_two_exporters_at_once_leave_one_whole_export(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = model_folder(tmp_path)
    both_inside = threading.Barrier(2)
    results: list[tuple[Path, bool]] = []

    def make(target: Path) -> None:
        (target / "graph.bin").write_bytes(b"weights")
        both_inside.wait(timeout=10)  # both have written their files: one rename must lose

    def export() -> None:
        results.append(cached_export(folder, "fake", {"lib": "1"}, make, "fake model"))

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0][0] == results[1][0]
    assert sorted(p.name for p in (folder / BESIDE_MODEL).iterdir()) == [results[0][0].name]  # no temporary left
    assert (results[0][0] / "graph.bin").read_bytes() == b"weights"
    assert cached_export(folder, "fake", {"lib": "1"}, make, "fake model") == (results[0][0], False)


def test_nowhere_to_keep_an_export_is_said_with_both_places_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the user cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = model_folder(tmp_path)
    (folder / BESIDE_MODEL).write_text("a file where the export folder would go: mkdir fails as on a read-only install")
    with pytest.raises(EmbeddingUnavailableError) as caught:
        cached_export(folder, "fake", {"lib": "1"}, lambda target: None, "fake model")
    message = str(caught.value)
    assert "fake model" in message and str(folder / BESIDE_MODEL) in message and str(tmp_path / "cache") in message
    assert "XDG_CACHE_HOME" in message and "\n" not in message


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = model_folder(tmp_path)

    def make(target: Path) -> None:
        (target / "graph.bin").write_bytes(b"half")
        raise RuntimeError("the exporter failed")

    with pytest.raises(RuntimeError, match="the exporter failed"):
        cached_export(folder, "fake", {"lib": "1"}, make, "fake model")
    assert list((folder / BESIDE_MODEL).iterdir()) == []
