"""The saved graph beside an embedded database is a verified cache: damaged, foreign or out-of-date files
are never used (and never crash the process), a failed save leaves the previous graph, and nothing the
user deleted is created again.

Searches after damage run in a fresh process: a crash (a segfault in the graph walk) fails the test
instead of killing pytest, and nothing cached in this process hides what a new user would see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from tidb_embed_orm import Vector, VectorIndex

ROOT = Path(__file__).resolve().parents[1]
DIM = 24
ROWS = 4000


def table() -> Table:
    return Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
                 VectorIndex("ix_docs_v", "v"))


def add_rows(path: Path, start: int, count: int, seed: int) -> None:
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs = table()
    docs.metadata.create_all(engine)
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": start + i, "v": rng.standard_normal(DIM)} for i in range(count)])
    engine.dispose()


def search_once(path: Path) -> None:
    """A search in this process: builds (or catches up) the graph and saves it."""
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs = table()
    with engine.connect() as conn:
        conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(3)).all()
    engine.dispose()


SEARCH = """
import json, logging, sys
import numpy as np
from sqlalchemy import create_engine, select
sys.path.insert(0, {tests!r})
from test_vector_index_files import table, DIM
from tidb_embed_orm.dialects.embedded.vector_index import ann, graph_file

warnings, digests = [], []
hash_content = graph_file._digest
graph_file._digest = lambda *args: digests.append(1) or hash_content(*args)

class Keep(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())

logging.getLogger("tidb_embed_orm").addHandler(Keep(logging.WARNING))
engine = create_engine("sqlite+tidb_embed:///{path}")
docs = table()
queries = np.random.default_rng(7).standard_normal((20, DIM))
indexed, walked, scan = [], [], []
exact_work = ann.EXACT_WORK
with engine.connect() as conn:
    for q in queries:
        distance = docs.c.v.cosine_distance(q)
        ann.EXACT_WORK = 0  # walk the graph's links, as large tables do: damaged links are what crash a walk
        walked.append(conn.execute(select(docs.c.id).order_by(distance).limit(10)).scalars().all())
        ann.EXACT_WORK = exact_work  # every stored vector compared: the answer is exact unless a vector is wrong
        indexed.append(conn.execute(select(docs.c.id).order_by(distance).limit(10)).scalars().all())
        scan.append(conn.execute(select(docs.c.id).order_by(distance + 0).limit(10)).scalars().all())
viewed = [graph.ann.viewed for graph in engine.dialect.vector_indexes._graphs.values()]
engine.dispose()
print(json.dumps({{"indexed": indexed, "walked": walked, "scan": scan, "warnings": warnings, "digests": len(digests),
                  "viewed": viewed}}))
"""


def fresh_process_search(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", SEARCH.format(tests=str(ROOT / "tests"), path=path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the search process died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder(path: Path) -> Path:
    return Path(f"{path}-tidb-vector")


def graphs(path: Path) -> list[Path]:
    return sorted(folder(path).glob("*.usearch"))


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    """A database with a saved graph, copied (with its folder) by each test."""
    path = tmp_path_factory.mktemp("original") / "docs.db"
    add_rows(path, 0, ROWS, seed=1)
    search_once(path)
    assert len(graphs(path)) == 1
    return path


@pytest.fixture
def copy(original, tmp_path) -> Path:
    path = tmp_path / "docs.db"
    shutil.copy(original, path)
    shutil.copytree(folder(original), folder(path))
    return path


@pytest.fixture
def saved_here(tmp_path) -> Path:
    """A database whose graph was saved where it lies (not copied): it carries its save's record."""
    path = tmp_path / "here" / "docs.db"
    path.parent.mkdir()
    add_rows(path, 0, ROWS, seed=1)
    search_once(path)
    return path


def records_checks(path: Path) -> bool:
    from tidb_embed_orm.dialects.embedded.vector_index.graph_file import CHECKED_ATTRIBUTE

    try:
        return bool(os.getxattr(graphs(path)[0], CHECKED_ATTRIBUTE))
    except (AttributeError, OSError):
        return False


def assert_scan_answer(result: dict) -> None:
    """The index's answer is the scan's; its graph walk finds (almost) the same rows (HNSW is approximate)."""
    assert result["indexed"] == result["scan"]
    hits = sum(len(set(walked) & set(scan)) for walked, scan in zip(result["walked"], result["scan"], strict=True))
    assert hits / sum(len(scan) for scan in result["scan"]) >= 0.95


def test_an_intact_graph_is_loaded_not_rebuilt(copy):
    before = graphs(copy)
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert result["warnings"] == []
    assert graphs(copy) == before  # a rebuild saves a new file under a new name
    assert result["digests"] == 1  # a copy is another file: checked in full


def test_a_graph_opened_where_it_was_saved_is_not_hashed_again(saved_here):
    """The save hashed it and recorded that on the file: a new process only compares the record."""
    if not records_checks(saved_here):
        pytest.skip("this file system keeps no extended attributes: every open checks in full")
    result = fresh_process_search(saved_here)
    assert_scan_answer(result)
    assert result["warnings"] == [] and result["digests"] == 0
    (saved,) = graphs(saved_here)
    os.utime(saved)  # touched (as by a backup tool restoring it): checked in full again, and still good
    again = fresh_process_search(saved_here)
    assert_scan_answer(again)
    assert again["warnings"] == [] and again["digests"] == 1 and graphs(saved_here) == [saved]


def zero_tail(data: bytearray, rng) -> None:
    data[len(data) * 3 // 4 :] = bytes(len(data) - len(data) * 3 // 4)


def zero_before_trailer(data: bytearray, rng) -> None:  # usearch's header and our trailer intact
    end = len(data) - 400
    data[end - 200_000 : end] = bytes(200_000)


def garbage_in_the_middle(data: bytearray, rng) -> None:
    middle = len(data) // 2
    data[middle : middle + 65536] = rng.integers(0, 256, 65536, dtype=np.uint8).tobytes()


def five_bit_flips_in_the_last_quarter(data: bytearray, rng) -> None:
    for at in rng.integers(len(data) * 3 // 4, len(data) - 400, 5):
        data[at] ^= 1 << int(rng.integers(0, 8))


def one_bit_flip_in_the_header(data: bytearray, rng) -> None:
    data[40] ^= 0x10


def one_bit_flip_in_the_trailer(data: bytearray, rng) -> None:
    data[len(data) - 60] ^= 0x01


def truncated_by_one_byte(data: bytearray, rng) -> None:
    del data[-1:]


def truncated_to_half(data: bytearray, rng) -> None:
    del data[len(data) // 2 :]


def emptied(data: bytearray, rng) -> None:
    del data[:]


DAMAGE = [zero_tail, zero_before_trailer, garbage_in_the_middle, five_bit_flips_in_the_last_quarter,
          one_bit_flip_in_the_header, one_bit_flip_in_the_trailer, truncated_by_one_byte, truncated_to_half, emptied]


@pytest.mark.parametrize("where", ["copied", "saved here"])
@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_damaged_graph_is_set_aside_with_one_warning_and_rebuilt(request, damage, where):
    """Damage to a copy, and damage in place at once after the save, in the same clock tick (the file keeps
    its inode and, for most of these, its size: only its modification time says it was written)."""
    copy = request.getfixturevalue("copy" if where == "copied" else "saved_here")
    (saved,) = graphs(copy)
    data = bytearray(saved.read_bytes())
    damage(data, np.random.default_rng(len(data)))
    with open(saved, "r+b") as handle:  # in place: the same file
        handle.write(bytes(data))
        handle.truncate()
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert len(result["warnings"]) == 1 and str(saved) in result["warnings"][0], result["warnings"]
    assert Path(f"{saved}.corrupt").exists() and not saved.exists()
    (rebuilt,) = graphs(copy)  # rebuilt from the table and saved anew
    again = fresh_process_search(copy)
    assert_scan_answer(again)
    assert again["warnings"] == [] and graphs(copy) == [rebuilt]


@pytest.mark.parametrize("seed", range(4))
def test_bit_flips_anywhere_never_crash_the_search(copy, seed):
    (saved,) = graphs(copy)
    data = bytearray(saved.read_bytes())
    rng = np.random.default_rng(100 + seed)
    for at in rng.integers(0, len(data), 3):
        data[at] ^= 1 << int(rng.integers(0, 8))
    saved.write_bytes(bytes(data))
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert len(result["warnings"]) == 1


def test_a_graph_of_another_database_with_the_same_name_is_not_used(copy, tmp_path):
    other = tmp_path / "other" / "docs.db"
    other.parent.mkdir()
    add_rows(other, 0, ROWS, seed=2)  # same table, same ids, same log positions, other vectors
    search_once(other)
    (ours,) = graphs(copy)
    (theirs,) = graphs(other)
    shutil.copy(theirs, ours)  # under the very name this database expects
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert len(result["warnings"]) == 1 and "another database" in result["warnings"][0]


def test_the_folder_of_a_fork_is_not_used(copy, tmp_path):
    fork = tmp_path / "fork" / "docs.db"
    fork.parent.mkdir()
    shutil.copy(copy, fork)
    shutil.copytree(folder(copy), folder(fork))
    add_rows(fork, ROWS, 1500, seed=3)
    search_once(fork)  # the fork saves a graph of its own history
    add_rows(copy, ROWS, 1500, seed=4)  # the same ids and log positions, other vectors
    shutil.rmtree(folder(copy))
    shutil.copytree(folder(fork), folder(copy))
    result = fresh_process_search(copy)
    assert_scan_answer(result)


def test_a_restored_older_database_beside_a_newer_graph_folder(copy, tmp_path):
    backup = tmp_path / "backup.db"
    shutil.copy(copy, backup)
    add_rows(copy, ROWS, 1500, seed=5)
    search_once(copy)  # a newer graph replaces the one the backup names
    shutil.copy(backup, copy)  # restore the .db alone
    Path(f"{copy}-wal").unlink(missing_ok=True)
    add_rows(copy, ROWS, 1500, seed=6)  # log positions move past the newer graph's, with other rows
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert result["warnings"] == []


def test_a_newer_database_beside_an_older_graph_folder(copy, tmp_path):
    older_folder = tmp_path / "older-folder"
    shutil.copytree(folder(copy), older_folder)
    add_rows(copy, ROWS, 1500, seed=7)
    search_once(copy)
    shutil.rmtree(folder(copy))
    shutil.copytree(older_folder, folder(copy))
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert result["warnings"] == []


FULL_DISK = """
import logging, resource, signal, sys
import numpy as np
from sqlalchemy import create_engine, insert, select
sys.path.insert(0, {tests!r})
from test_vector_index_files import table, DIM, ROWS

logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
engine = create_engine("sqlite+tidb_embed:///{path}")
docs = table()
rng = np.random.default_rng(11)
with engine.begin() as conn:  # enough changes for the next search to save a new graph
    conn.execute(insert(docs), [{{"id": ROWS + i, "v": rng.standard_normal(DIM)}} for i in range(1200)])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
with engine.connect() as conn:
    print("found", conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(3)).all())
engine.dispose()
"""


def test_a_save_that_runs_out_of_space_keeps_the_previous_graph(copy):
    (saved,) = graphs(copy)
    before = saved.read_bytes()
    limit = len(before) // 2  # the database's own writes fit; a whole graph does not
    script = FULL_DISK.format(tests=str(ROOT / "tests"), path=copy, limit=limit)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "found" in done.stdout and "could not save its graph" in done.stdout
    assert graphs(copy) == [saved] and saved.read_bytes() == before  # the previous graph, untouched
    assert not [p for p in folder(copy).iterdir() if p.name.endswith(".tmp")]  # no partial file left
    result = fresh_process_search(copy)  # loads the previous graph and folds the 1,200 rows from the log
    assert_scan_answer(result)
    assert result["warnings"] == []
    assert len(result["scan"][0]) == 10


@pytest.mark.parametrize("what", ["its directory", "the database and its graph folder"])
def test_what_the_user_deleted_is_not_created_again(tmp_path, what):
    directory = tmp_path / "gone"
    directory.mkdir()
    path = directory / "docs.db"
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs = table()
    docs.metadata.create_all(engine)
    rng = np.random.default_rng(12)
    nearest = select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(3)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": i, "v": rng.standard_normal(DIM)} for i in range(2000)])
    with engine.connect() as conn:
        conn.execute(nearest).all()  # built and saved
        assert folder(path).is_dir()
        if what == "its directory":
            shutil.rmtree(directory)  # the user removes the database while a connection is open
        else:
            for leftover in [path, Path(f"{path}-wal"), Path(f"{path}-shm")]:
                leftover.unlink(missing_ok=True)
            shutil.rmtree(folder(path))
        # the open connection still writes to the file it has open: enough for the next search to save
        conn.execute(insert(docs), [{"id": 5000 + i, "v": rng.standard_normal(DIM)} for i in range(1500)])
        conn.commit()
        assert len(conn.execute(nearest).all()) == 3
    engine.dispose()
    if what == "its directory":
        assert not directory.exists()
    else:
        assert sorted(p.name for p in directory.iterdir()) == []


def test_dispose_closes_the_connections_the_engine_opened(tmp_path):
    path = tmp_path / "docs.db"
    add_rows(path, 0, 300, seed=13)
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs = table()
    stmt = select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(3)
    with engine.connect() as conn:
        expected = conn.execute(stmt).scalars().all()
    readers = list(engine.dialect.vector_indexes._readers.values())
    assert readers
    engine.dispose()
    assert not engine.dialect.vector_indexes._readers
    for reader in readers:
        with pytest.raises(Exception, match="closed"):
            reader.connection.execute("SELECT 1")
    if sys.platform.startswith("linux"):  # no descriptor of the database file is left open in this process
        fds = Path("/proc/self/fd")
        assert not [fd for fd in fds.iterdir() if os.path.realpath(fd) == os.path.realpath(path)]
    with engine.connect() as conn:  # a disposed engine is used again as before
        assert conn.execute(stmt).scalars().all() == expected
    engine.dispose()


def test_saved_graph_files_are_named_by_the_database(copy):
    """What the docs page says about the folder: one file per index, named by the save the database records."""
    (saved,) = graphs(copy)
    engine = create_engine(f"sqlite+tidb_embed:///{copy}")
    with engine.connect() as conn:
        token, save = conn.exec_driver_sql("SELECT token, save FROM _tidb_embed_vector_graph").one()
    engine.dispose()
    assert saved.name == f"{token}.{save}.usearch"
    assert saved.read_bytes()[-8:] == b"TIDBVEC2"


def test_a_graph_saved_in_the_first_format_is_still_read(copy):
    """Files saved before the digest was split into pieces (one xxh3-128 over everything) are not rebuilt."""
    import xxhash

    from tidb_embed_orm.dialects.embedded.vector_index import graph_file

    (saved,) = graphs(copy)
    data = saved.read_bytes()
    (stamp_length,) = graph_file._FOOTER.unpack(data[-12:-8])
    content_end = len(data) - 8 - 4 - 16 - stamp_length
    content, stamp = data[:content_end], data[content_end : content_end + stamp_length]
    legacy = xxhash.xxh3_128(content + stamp).digest()  # the first format: one digest over content, then stamp
    saved.write_bytes(content + stamp + legacy + data[-12:-8] + b"TIDBVEC1")
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert result["warnings"] == []
    assert graphs(copy) == [saved]


def test_every_piece_of_a_large_graph_is_checked(tmp_path, monkeypatch):
    """A graph's digest covers pieces hashed on several threads: damage in any one piece is found."""
    from tidb_embed_orm.dialects.embedded.vector_index import graph_file
    from tidb_embed_orm.dialects.embedded.vector_index.ann import AnnGraph

    monkeypatch.setattr(graph_file, "CHUNK", 4096)
    graph = AnnGraph("cosine", DIM)
    graph.add_new(np.arange(3000, dtype=np.int64), np.random.default_rng(3).standard_normal((3000, DIM)))
    stamp = graph_file.GraphStamp("token", "save", 2, 10, "cosine", DIM)
    path = tmp_path / "g.usearch"
    graph.save(path, stamp)
    size = path.stat().st_size
    assert size > 20 * 4096
    assert len(AnnGraph.load(path, stamp)) == 3000
    intact = path.read_bytes()
    for at in (100, 5 * 4096 + 7, size - 500):  # the first, a middle and the last piece
        damaged = bytearray(intact)
        damaged[at] ^= 0x04
        path.write_bytes(bytes(damaged))
        with pytest.raises(graph_file.GraphFileError, match="does not match its checksum"):
            AnnGraph.load(path, stamp)


def test_async_engine_dispose_closes_the_connections_the_engine_opened(tmp_path):
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    path = tmp_path / "docs.db"
    add_rows(path, 0, 300, seed=14)
    docs = table()

    async def main() -> list:
        engine = create_async_engine(f"sqlite+tidb_embed:///{path}")
        async with engine.connect() as conn:
            found = (await conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(np.ones(DIM))).limit(3))).all()
        readers = list(engine.sync_engine.dialect.vector_indexes._readers.values())
        await engine.dispose()
        assert readers and not engine.sync_engine.dialect.vector_indexes._readers
        return [reader.connection for reader in readers] + [found]

    *connections, found = asyncio.run(main())
    assert len(found) == 3
    for connection in connections:
        with pytest.raises(Exception, match="closed"):
            connection.execute("SELECT 1")


def graph_of(engine):
    (graph,) = engine.dialect.vector_indexes._graphs.values()
    return graph.ann


@pytest.mark.parametrize("through", ["descriptor", "map"])
def test_a_viewed_graph_keeps_its_changes_beside_it_then_is_read_into_memory(copy, monkeypatch, through):
    """Writes to a graph viewed from its file go beside it (its file stays mapped, nothing is read into memory);
    once the changes pass their bound the graph is read into memory from the very file that was checked
    (through its open descriptor, after the map is let go; from the map where the system has no
    /proc/self/fd), with the changes applied: searches answer the same throughout, and no descriptor of the
    graph file stays open."""
    from tidb_embed_orm.dialects.embedded.vector_index import ann, store

    if through == "map":
        monkeypatch.setattr(ann, "reopen_path", lambda descriptor: None)
    monkeypatch.setattr(store, "RECENT_ROWS", 0)  # no row ranked exactly for being recent: the graph answers
    (saved,) = graphs(copy)
    engine = create_engine(f"sqlite+tidb_embed:///{copy}")
    docs = table()
    rng = np.random.default_rng(9)
    queries = rng.standard_normal((5, DIM))

    def top(q, k=10):
        with engine.connect() as conn:
            return conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(k)).scalars().all()

    before = [top(q) for q in queries]

    def open_graph_descriptors():
        fds = Path("/proc/self/fd")
        return [fd for fd in fds.iterdir() if os.path.realpath(fd) == os.path.realpath(saved)] if fds.is_dir() else []

    def write(first_id, vectors):
        with engine.begin() as conn:
            conn.execute(insert(docs), [{"id": first_id + i, "v": v} for i, v in enumerate(vectors)])
            conn.execute(docs.delete().where(docs.c.id == before[0][0]))

    if sys.platform.startswith("linux"):
        assert open_graph_descriptors()  # held from the check on (the map holds one too)
    write(10_000, queries * 2)
    for q, was, i in zip(queries, before, range(len(queries)), strict=True):
        now = top(q)
        assert now[0] == 10_000 + i  # found in the changes
        expected = [r for r in was if r != before[0][0]]  # masked in the view
        assert now[1:] == expected[: len(now) - 1]
    assert graph_of(engine).viewed
    if sys.platform.startswith("linux"):
        assert open_graph_descriptors()

    monkeypatch.setattr(ann, "VIEW_CHANGES_MIN", 5)  # the next write passes the bound
    monkeypatch.setattr(ann, "VIEW_CHANGES_SHARE", 0.0)
    with engine.begin() as conn:  # rewrite two rows: their new vectors must win over the view's old ones
        conn.execute(docs.update().where(docs.c.id == before[1][5]).values(v=queries[1] * 3))
        conn.execute(docs.update().where(docs.c.id == 10_002).values(v=-queries[2]))
    assert top(queries[1])[0] == before[1][5]
    assert 10_002 not in top(queries[2], 50)
    assert not graph_of(engine).viewed
    assert not open_graph_descriptors()
    for q, i in zip(queries, range(len(queries)), strict=True):
        assert before[0][0] not in top(q, 50)
        if i not in (1, 2):
            assert top(q)[0] == 10_000 + i
    engine.dispose()


def test_a_database_opened_with_unsaved_changes_keeps_its_graph_viewed(copy):
    """An application that writes leaves changes in the log short of the next save: the next process folds them
    beside the viewed graph instead of reading the whole graph into memory, and answers as the table does."""
    engine = create_engine(f"sqlite+tidb_embed:///{copy}")
    docs = table()
    rng = np.random.default_rng(21)
    with engine.begin() as conn:  # inserts, rewrites and deletes, with no search in this process
        conn.execute(insert(docs), [{"id": 20_000 + i, "v": rng.standard_normal(DIM)} for i in range(60)])
        for rowid in range(0, 600, 10):
            conn.execute(docs.update().where(docs.c.id == rowid).values(v=rng.standard_normal(DIM)))
        conn.execute(docs.delete().where(docs.c.id.between(1000, 1100)))
    engine.dispose()
    result = fresh_process_search(copy)
    assert_scan_answer(result)
    assert result["warnings"] == [] and result["viewed"] == [True]


def test_a_viewed_graph_is_saved_with_its_changes(copy):
    """Past the save threshold the graph is written with the changes it kept beside it: the next process reads
    the new file (no log left to fold) and answers as the table does."""
    (before,) = graphs(copy)
    engine = create_engine(f"sqlite+tidb_embed:///{copy}")
    docs = table()
    rng = np.random.default_rng(22)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": 30_000 + i, "v": rng.standard_normal(DIM)} for i in range(1200)])
        conn.execute(docs.delete().where(docs.c.id < 200))
    engine.dispose()
    saving = fresh_process_search(copy)
    assert_scan_answer(saving)
    (after,) = graphs(copy)
    assert after != before and saving["viewed"] == [False]  # read into memory to be saved
    again = fresh_process_search(copy)
    assert_scan_answer(again)
    assert again["viewed"] == [True] and again["warnings"] == []


def test_a_damaged_backup_put_back_with_its_times_and_attributes_is_checked(saved_here, tmp_path):
    """``cp -a`` of a backup over the graph keeps the inode and restores the size, the modification time and the
    save's record: only the change time, which no tool sets, tells it was written; the damage is caught."""
    if not records_checks(saved_here) or shutil.which("cp") is None:
        pytest.skip("needs extended attributes and cp")
    (saved,) = graphs(saved_here)
    inode = saved.stat().st_ino
    backup = tmp_path / "backup.usearch"
    subprocess.run(["cp", "-a", str(saved), str(backup)], check=True)
    times = backup.stat()
    data = bytearray(backup.read_bytes())
    garbage_in_the_middle(data, np.random.default_rng(3))
    with open(backup, "r+b") as handle:  # the backup rots in place; its times are as they were
        handle.write(bytes(data))
    os.utime(backup, ns=(times.st_atime_ns, times.st_mtime_ns))
    time.sleep(0.05)  # put back later than the save (a moment later, here)
    subprocess.run(["cp", "-a", str(backup), str(saved)], check=True)
    assert saved.stat().st_ino == inode and saved.stat().st_mtime_ns == times.st_mtime_ns
    result = fresh_process_search(saved_here)
    assert_scan_answer(result)
    assert result["digests"] == 1
    assert len(result["warnings"]) == 1 and "checksum" in result["warnings"][0], result["warnings"]
