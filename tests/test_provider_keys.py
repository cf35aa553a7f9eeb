"""configure_provider: the key reaches the database, and nothing else ever shows it."""

from __future__ import annotations

import logging
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from tidb_embed_orm import ApiKey, InvalidApiKeyError, UnknownProviderError, configure_provider
from tidb_embed_orm.catalog import PROVIDER_KEY_VARIABLES
from tidb_embed_orm.providers import ProviderKeyError, client_key

KEY = "hf_SeCrEt0123456789abcdefXYZ"


@pytest.mark.parametrize("provider", ["acme", "HuggingFace", ""])
def test_unknown_provider_lists_the_known_ones(provider):
    engine = create_engine("sqlite+tidb_embed://")
    with pytest.raises(UnknownProviderError, match="known providers: cohere, gemini, huggingface, jina_ai"):
        configure_provider(engine, provider, KEY)


def test_tidb_hosted_provider_takes_no_key():
    with pytest.raises(UnknownProviderError, match="hosted by TiDB Cloud"):
        configure_provider(create_engine("sqlite+tidb_embed://"), "tidbcloud_free", KEY)


@pytest.mark.parametrize("bad", ["", "   ", "hf_abc\n", "hf abc", "k\x00ey", 12345, None])
def test_malformed_keys_are_refused_without_echoing_them(bad):
    with pytest.raises(InvalidApiKeyError) as info:
        configure_provider(create_engine("sqlite+tidb_embed://"), "huggingface", bad)
    assert "malformed API key" in str(info.value) or "must be a string" in str(info.value)
    if isinstance(bad, str) and bad.strip():
        assert bad.strip() not in str(info.value)


def test_api_key_never_prints():
    key = ApiKey(KEY)
    assert KEY not in repr(key) and KEY not in str(key) and KEY not in f"{key}"
    assert key.reveal() == KEY
    assert key.mask(f"server said {KEY}") == "server said ***"


def test_embedded_engine_keeps_the_key_in_the_client():
    engine = create_engine("sqlite+tidb_embed://")
    configure_provider(engine, "huggingface", KEY)
    assert client_key(engine.dialect, "huggingface").reveal() == KEY


def test_tidb_receives_set_global_with_the_key_bound(mariadb, caplog):
    """Against a real MySQL-protocol server: the statement arrives; logs and errors stay clean."""
    engine = create_engine(mariadb["url"], echo=True)
    caplog.set_level(logging.DEBUG)
    # MariaDB has no TiDB variables, so it refuses: exactly the error path we must keep clean.
    with pytest.raises(ProviderKeyError) as info:
        configure_provider(engine, "huggingface", KEY)
    assert "Unknown system variable" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    # Not even as context: the driver's error holds the statement's parameters, the key.
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert KEY not in caplog.text
    engine.dispose()
    general_log = mariadb["general_log"].read_text(errors="replace")
    assert f"SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{KEY}'" in general_log


def test_key_is_masked_when_the_server_quotes_it(mariadb, monkeypatch):
    """A server error that repeats the value is re-raised with the key masked.

    MariaDB quotes a refused value back for its own variables ("Variable 'sql_mode' can't be set
    to the value of '...'"), so point the provider at one to make the server do exactly that.
    """
    monkeypatch.setitem(PROVIDER_KEY_VARIABLES, "huggingface", "sql_mode")
    engine = create_engine(mariadb["url"])
    with pytest.raises(ProviderKeyError) as info:
        configure_provider(engine, "huggingface", KEY)
    assert "can't be set to the value of '***'" in str(info.value)
    assert KEY not in str(info.value)
    engine.dispose()


def test_a_base_url_tidb_cannot_take_is_refused_before_anything_is_set(mariadb):
    statement = "SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY"
    before = mariadb["general_log"].read_text(errors="replace").count(statement)
    engine = create_engine(mariadb["url"])
    with pytest.raises(ProviderKeyError, match="no base URL setting for 'huggingface'"):
        configure_provider(engine, "huggingface", KEY, base_url="http://127.0.0.1:1")
    engine.dispose()
    assert mariadb["general_log"].read_text(errors="replace").count(statement) == before


LONG_KEY = "hf_" + "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=297))


def test_a_key_echoed_back_truncated_is_masked_too(mariadb, monkeypatch):
    """MariaDB cuts a refused value short in its message (at 200 characters here): the piece it
    shows is no full key, and must be masked all the same."""
    monkeypatch.setitem(PROVIDER_KEY_VARIABLES, "huggingface", "sql_mode")
    engine = create_engine(mariadb["url"])
    with pytest.raises(ProviderKeyError) as info:
        configure_provider(engine, "huggingface", LONG_KEY)
    engine.dispose()
    message = str(info.value)
    assert "can't be set to the value of '***" in message
    assert not any(LONG_KEY[i : i + 8] in message for i in range(len(LONG_KEY) - 7))
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("echo", [
    lambda k: k[:20] + "...",  # cut short
    lambda k: k[5:-5],  # the middle only
    lambda k: f"'{k[:12]}' ... '{k[-9:]}'",  # two pieces
])
def test_mask_hides_every_long_enough_piece_of_the_key(echo):
    key = ApiKey(KEY)
    masked = key.mask(f"server said: {echo(KEY)} (error 1231)")
    assert masked.startswith("server said: ") and masked.endswith(" (error 1231)")
    assert not any(KEY[i : i + 8] in masked for i in range(len(KEY) - 7))


def test_mask_leaves_short_coincidences_alone():
    assert ApiKey(KEY).mask("hf_SeCr and 0123 are fine") == "hf_SeCr and 0123 are fine"


KEY_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "*")


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet=KEY_CHARS, min_size=8, max_size=80), data=st.data())
def test_no_piece_of_eight_or_more_survives_masking(key, data):
    """Whatever pieces of the key a server echoes, in whatever surroundings, none survives."""
    pieces = []
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(key) - 8))
        pieces.append(key[start : data.draw(st.integers(start + 8, len(key)))])
    filler = st.text(alphabet=KEY_CHARS + " '\"", max_size=6)
    text = "".join(data.draw(filler) + piece for piece in pieces) + data.draw(filler)
    masked = ApiKey(key).mask(text)
    assert not any(key[i : i + 8] in masked for i in range(len(key) - 7))
