"""Chinese, Japanese, Korean and emoji full text on the embedded engine: MULTILINGUAL with jieba or with
character bigrams, NGRAM with the grams its min_gram/max_gram/granularity ask for.

The stock_items rows and the two queries are TiDB's own example (pingcap/docs
``ai/guides/vector-search-full-text-search-sql.md``), with the rows TiDB documents.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, func, insert, select

from tidb_embed_orm import MULTILINGUAL, NGRAM, FulltextError, FulltextIndex, fts_match
from tidb_embed_orm.dialects.embedded import fts_tokens

STOCK_ITEMS = [
    (1, "イヤホン bluetooth ワイヤレスイヤホン "),
    (2, "完全ワイヤレスイヤホン/ウルトラノイズキャンセリング 2.0 "),
    (3, "ワイヤレス ヘッドホン Bluetooth 5.3 65時間再生 ヘッドホン 40mm HD "),
    (4, "楽器用 オンイヤーヘッドホン 密閉型【国内正規品】"),
    (5, "ワイヤレスイヤホン ハイブリッドANC搭載 40dBまでアクティブノイズキャンセル"),
    (6, "Lightweight Bluetooth Earbuds with 48 Hours Playtime"),
    (7, "True Wireless Noise Cancelling Earbuds - Compatible with Apple & Android, Built-in Microphone"),
    (8, "In-Ear Earbud Headphones with Mic, Black"),
    (9, "Wired Headphones, HD Bass Driven Audio, Lightweight Aluminum Wired in Ear Earbud Headphones"),
    (10, "LED Light Bar, Music Sync RGB Light Bar, USB Ambient Lamp"),
    (11, "无线消噪耳机-黑色 手势触控蓝牙降噪 主动降噪头戴式耳机（智能降噪 长久续航）"),
    (12, "专业版USB7.1声道游戏耳机电竞耳麦头戴式电脑网课办公麦克风带线控"),
    (13, "投影仪家用智能投影机便携卧室手机投影"),
    (14, "无线蓝牙耳机超长续航42小时快速充电 流光金属耳机"),
    (15, "皎月银 国家补贴 心率血氧监测 蓝牙通话 智能手表 男女表"),
]

MORE = [
    (16, "TiFlash副本是列存储的数据副本 🚀"),
    (17, "东京的向量数据库 🎉🎉"),
    (18, "한국어 형태소 분석과 검색"),
    (19, "Hello World and HELLO again"),
]


@pytest.fixture(params=["jieba", "bigram"])
def segmenter(request, monkeypatch):
    """Both MULTILINGUAL paths: jieba (the cjk extra, installed here) and the bigrams used without it."""
    if request.param == "jieba":
        assert fts_tokens.jieba_available()
    else:
        monkeypatch.setattr(fts_tokens, "_jieba", lambda: None)
    return request.param


def make_engine(tmp_path, parser, rows):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'cjk.db'}")
    table = Table("stock_items", MetaData(), Column("id", Integer, primary_key=True), Column("title", Text),
                  FulltextIndex("ft_title", "title", parser=parser))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "title": t} for i, t in rows])
    return engine, table


def search(engine, table, query):
    match = fts_match(table.c.title, query)
    with engine.connect() as conn:
        return list(conn.scalars(select(table.c.id).where(match).order_by(match.desc(), table.c.id).limit(10)))


def test_tidbs_documented_stock_items_example(tmp_path, segmenter):
    engine, table = make_engine(tmp_path, MULTILINGUAL, STOCK_ITEMS)
    found = search(engine, table, "bluetoothイヤホン")
    # TiDB: 1, 6, 2, 3, 5 (row 1 holds both words; 4's オンイヤーヘッドホン is not イヤホン)
    assert found[0] == 1 and sorted(found) == [1, 2, 3, 5, 6]
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(table).where(fts_match(table.c.title, "bluetoothイヤホン")))
    assert count == 5
    if segmenter == "jieba":
        # TiDB: 14, 11, 15 -- jieba leaves 游戏耳机电竞 (row 12) as 耳/机电/竞, as TiDB does
        assert search(engine, table, "蓝牙耳机") == [14, 11, 15]
    else:
        # bigrams: a query word is the phrase of its bigrams, so the whole word must be there
        assert search(engine, table, "蓝牙耳机") == [14]
    engine.dispose()


def test_two_character_chinese_words_find_their_rows(tmp_path, segmenter):
    engine, table = make_engine(tmp_path, MULTILINGUAL, STOCK_ITEMS + MORE)
    assert sorted(search(engine, table, "蓝牙")) == [11, 14, 15]
    assert sorted(search(engine, table, "智能")) == [11, 13, 15]
    assert search(engine, table, "东京") == [17]
    assert search(engine, table, "向量") == [17]
    # Latin runs are split from CJK runs: TiFlash副本 is TiFlash + 副本
    assert search(engine, table, "tiflash") == [16]
    assert search(engine, table, "副本") == [16]
    assert search(engine, table, "한국어") == [18]
    assert search(engine, table, "🎉") == [17]
    assert search(engine, table, "🚀 rocket") == [16]
    engine.dispose()


def test_ranking_stays_bm25(tmp_path, segmenter):
    engine, table = make_engine(tmp_path, MULTILINGUAL, [(1, "数据库 和 向量"), (2, "向量 向量 向量 数据库"), (3, "图数据")])
    match = fts_match(table.c.title, "向量")
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, match.label("score")).where(match).order_by(match.desc())).all()
    assert [r.id for r in rows] == [2, 1]
    assert rows[0].score > rows[1].score > 0
    engine.dispose()


def test_ngram_indexes_exactly_the_grams_asked_for(tmp_path):
    rows = STOCK_ITEMS + MORE
    (tmp_path / "a").mkdir()
    default, table = make_engine(tmp_path / "a", NGRAM, rows)
    # TiDB's default is 3-grams: a two-character word has no gram and matches nothing
    assert search(default, table, "东京") == []
    assert sorted(search(default, table, "数据库")) == [17]
    assert sorted(search(default, table, "ヘッドホン")) == [3, 4]
    default.dispose()
    (tmp_path / "b").mkdir()
    two, table = make_engine(tmp_path / "b", NGRAM(min_gram=2), rows)
    assert search(two, table, "东京") == [17]
    assert sorted(search(two, table, "数据")) == [16, 17]
    assert sorted(search(two, table, "耳机")) == [11, 12, 14]  # substrings: 游戏耳机 too
    assert sorted(search(two, table, "数据库")) == [17]  # the 3-gram
    two.dispose()


def test_ngram_granularity_and_case(tmp_path):
    rows = [(1, "hello world"), (2, "Hello World and HELLO again"), (3, "helloworld")]
    for name, parser, query, expected in [
        ("word", NGRAM, "o w", []),  # no gram crosses a word boundary
        ("char", NGRAM(granularity="char"), "o w", [1, 2]),
        ("lower", NGRAM, "HELLO", [1, 2, 3]),
        ("case", NGRAM(lower_case=False), "HELLO", [2]),
        ("case2", NGRAM(lower_case=False), "hello", [1, 3]),
    ]:
        (tmp_path / name).mkdir()
        engine, table = make_engine(tmp_path / name, parser, rows)
        assert sorted(search(engine, table, query)) == expected, name
        engine.dispose()


def test_updates_and_deletes_keep_a_tokenized_index_exact(tmp_path, segmenter):
    engine, table = make_engine(tmp_path, MULTILINGUAL, STOCK_ITEMS)
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 14).values(title="投影仪 蓝牙"))
        conn.execute(table.delete().where(table.c.id == 15))
        conn.exec_driver_sql("INSERT INTO _tidb_fts_stock_items_ft_title(_tidb_fts_stock_items_ft_title, rank) "
                             "VALUES ('integrity-check', 1)")
    assert sorted(search(engine, table, "蓝牙")) == [11, 14]
    assert sorted(search(engine, table, "耳机")) == ([11] if segmenter == "jieba" else [11, 12])
    engine.dispose()


def test_an_index_built_with_jieba_refuses_writes_where_jieba_is_missing(tmp_path, monkeypatch):
    engine, table = make_engine(tmp_path, MULTILINGUAL, STOCK_ITEMS[:2])
    monkeypatch.setattr(fts_tokens, "_jieba", lambda: None)
    with pytest.raises(FulltextError, match=r"pip install 'tidb-embed-orm\[cjk\]'"), engine.begin() as conn:
        conn.execute(insert(table).values(id=99, title="蓝牙耳机"))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(table)) == 2  # nothing half-written
    engine.dispose()


def test_chinese_exact_term_recall_of_the_benchmark_set(tmp_path):
    """benchmarks/bench_hybrid_search.py --chinese-fulltext-only: recall@10 >= 0.9 for both parsers."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hybrid_search.py"
    spec = importlib.util.spec_from_file_location("bench_hybrid_search", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_hybrid_search", bench)  # its ORM annotations are resolved there
    spec.loader.exec_module(bench)
    recall = bench.chinese_fulltext_recall(tmp_path)
    assert recall["MULTILINGUAL (jieba)"] >= 0.9
    assert recall["MULTILINGUAL (bigrams)"] >= 0.9
    assert recall["NGRAM(min_gram=2)"] >= 0.9
    assert recall["NGRAM (3/3, TiDB default)"] < 0.5  # two-character words have no 3-gram, as on TiDB
    assert fts_tokens.jieba_available()  # the patched-out segmenter is back


def test_queries_are_cut_as_the_index_was_built_whatever_is_installed_later(tmp_path, monkeypatch):
    monkeypatch.setattr(fts_tokens, "_jieba", lambda: None)
    engine, table = make_engine(tmp_path, MULTILINGUAL, STOCK_ITEMS)  # built with bigrams
    monkeypatch.undo()
    assert fts_tokens.jieba_available()
    with engine.connect() as conn:
        sql = str(select(table.c.id).where(fts_match(table.c.title, "x")).compile(conn))
    assert "tidb_fts_match((SELECT sql FROM sqlite_master" in sql
    assert search(engine, table, "蓝牙耳机") == [14]  # the bigram phrase, not jieba's two words
    assert sorted(search(engine, table, "蓝牙")) == [11, 14, 15]
    engine.dispose()
