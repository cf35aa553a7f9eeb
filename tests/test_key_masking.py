"""A provider key pasted into SQL never reaches a log line or an exception, on any engine,
however the SET is spelled (comments, case, spacing), with or without ``logging_name``."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text

import tidb_embed_orm  # noqa: F401  (installs the key protection, as any use of the library does)
from tidb_embed_orm.exc import TidbEmbedError
from tidb_embed_orm.providers import client_key

KEY = "hf_SecretKey0123456789abcdefXYZ"
SETS = [
    "/* c */ SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{key}'",
    "-- c\nSET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{key}'",
    "set @@global.tidb_exp_embed_huggingface_api_key='{key}'",
    "  SeT /* a */ @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY /* b */ = /* c */ '{key}' ;",
]


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything reachable from it: ``__cause__``, ``__context__``, ``orig``."""
    seen, pending = [], [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending.extend([current.__cause__, current.__context__, getattr(current, "orig", None)])
    return seen


def assert_no_key(exc: BaseException) -> None:
    for link in chain(exc):
        for shown in (str(link), repr(link), repr(link.args), str(getattr(link, "statement", "")),
                      repr(getattr(link, "params", ""))):
            assert KEY not in shown and KEY[:12] not in shown


@pytest.mark.parametrize("spelling", SETS)
@pytest.mark.parametrize("logging_name", [None, "app"])
def test_the_embedded_engine_keeps_a_key_set_in_any_spelling(spelling, logging_name, caplog):
    kwargs = {"logging_name": logging_name} if logging_name else {}
    engine = create_engine("sqlite+tidb_embed://", **kwargs)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with engine.connect() as conn:
        conn.exec_driver_sql(spelling.format(key=KEY))
    assert client_key(engine.dialect, "huggingface").reveal() == KEY
    assert "TIDB_EXP_EMBED_HUGGINGFACE_API_KEY" in caplog.text.upper()  # it was logged ...
    assert KEY not in caplog.text  # ... masked
    engine.dispose()


@pytest.mark.parametrize("spelling", SETS)
@pytest.mark.parametrize("logging_name", [None, "app"])
def test_plain_sqlite_refuses_the_set_without_showing_the_key(spelling, logging_name, caplog):
    kwargs = {"logging_name": logging_name} if logging_name else {}
    engine = create_engine("sqlite://", **kwargs)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with engine.connect() as conn:
        with pytest.raises(Exception) as caught:
            conn.exec_driver_sql(spelling.format(key=KEY))
    assert_no_key(caught.value)
    assert "TIDB_EXP_EMBED_HUGGINGFACE_API_KEY" in caplog.text.upper()
    assert KEY not in caplog.text
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+tidb_embed://"])
def test_a_bound_key_is_hidden_in_the_error_and_the_log(url, caplog):
    engine = create_engine(url, logging_name="app", echo=True)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with engine.connect() as conn:
        with pytest.raises(Exception) as caught:  # an unknown provider's variable: refused on both engines
            conn.execute(text("/* c */ SET @@GLOBAL.TIDB_EXP_EMBED_NOPE_API_KEY = :k"), {"k": KEY})
    assert_no_key(caught.value)
    assert KEY not in caplog.text
    engine.dispose()


def test_echo_on_a_named_engine_masks_the_key(capsys):
    engine = create_engine("sqlite://", echo=True, logging_name="app")
    with engine.connect() as conn, pytest.raises(Exception) as caught:
        conn.exec_driver_sql(SETS[1].format(key=KEY))
    assert_no_key(caught.value)
    assert KEY not in capsys.readouterr().out
    engine.dispose()


@pytest.mark.parametrize("spelling", SETS[:2])
def test_mysql_protocol_engine_masks_the_key(mariadb, spelling, caplog):
    engine = create_engine(mariadb["url"], logging_name="app")
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql(spelling.format(key=KEY))
        except Exception as exc:  # MariaDB has no such variable
            assert_no_key(exc)
    assert KEY not in caplog.text
    engine.dispose()


KEY_CUT_SHORT = "hf_secretsecret123"


@pytest.mark.parametrize("sql", [
    f"SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{KEY_CUT_SHORT}",  # the closing quote is missing
    f"SET GLOBAL TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = {KEY_CUT_SHORT}",  # MySQL takes a bare word
    f"/* c */ set global tidb_exp_embed_huggingface_api_key={KEY_CUT_SHORT};",
])
@pytest.mark.parametrize("url", ["sqlite://", "sqlite+tidb_embed://"])
def test_a_refused_key_set_keeps_its_error_class_and_never_shows_the_key(url, sql, caplog):
    """The error users catch is the database's (not an AttributeError of the masking), and holds no key."""
    import logging
    import traceback

    from sqlalchemy import exc

    caplog.set_level(logging.DEBUG)
    engine = create_engine(url, echo=True, logging_name="app")
    with pytest.raises((exc.DBAPIError, TidbEmbedError)) as raised:
        with engine.connect() as conn:
            conn.execute(text(sql))
    assert KEY_CUT_SHORT not in "".join(traceback.format_exception(raised.value))
    assert KEY_CUT_SHORT not in repr(raised.value) and KEY_CUT_SHORT not in caplog.text
    engine.dispose()


def test_a_bound_key_is_hidden_behind_a_logging_token(caplog):
    caplog.set_level(logging.INFO)
    engine = create_engine("sqlite://", echo=True)
    with engine.connect().execution_options(logging_token="req1") as conn:
        with pytest.raises(Exception):  # noqa: B017  (SQLite refuses the SET; the log is what is checked)
            conn.execute(text("SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_KEY = :k"), {"k": "sk-SECRET123456"})
    assert "sk-SECRET123456" not in caplog.text and "[req1]" in caplog.text
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite+tidb_embed://", "sqlite://"])
def test_credentials_in_a_base_url_set_in_sql_never_show(url, caplog):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    engine = create_engine(url, echo=True)
    secret = "hunter2-base-token"
    with engine.connect() as conn:
        for sql, params in ((f"SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE = 'https://u:{secret}@gw.example/v1'", None),
                            ("SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE = :base",
                             {"base": f"https://u:{secret}@gw.example/v1"})):
            try:
                conn.execute(text(sql), params)
            except Exception as error:  # plain SQLite refuses SET; the embedded engine keeps the base
                assert secret not in str(error)
    assert "TIDB_EXP_EMBED_OPENAI_API_BASE" in caplog.text and "https://***@gw.example/v1" in caplog.text
    assert secret not in caplog.text
    engine.dispose()
