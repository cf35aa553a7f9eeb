"""``tidb-embed-orm`` on the command line, driven as a user drives it: a subprocess."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tidb_embed_orm.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_version():
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tidb-embed-orm {version('tidb-embed-orm')}"


def test_unknown_provider_is_one_line_and_a_failure():
    result = cli("models", "--provider", "nope")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "unknown provider 'nope'; known providers: cohere, gemini, huggingface" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_are_one_line():
    result = cli("models", "--no-such-flag")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_models_into_a_closed_pipe_is_quiet():
    # `head -1` closes the pipe after the first line; the rest of the listing must not end in a traceback.
    command = " ".join(CLI) + " models | head -1"
    result = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.count("\n") == 1
    assert ": " in result.stdout and "dims" in result.stdout
    assert result.stderr == ""


def test_errors_are_one_line_and_traceback_is_on_request(tmp_path):
    # A URL naming a driver that is not installed: SQLAlchemy raises deep inside create_engine.
    result = cli("demo", "--url", "mysql+nosuchdriver://u@127.0.0.1:1/x")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("tidb-embed-orm: error: ")
    assert "Traceback" not in result.stderr
    verbose = cli("--traceback", "demo", "--url", "mysql+nosuchdriver://u@127.0.0.1:1/x")
    assert "Traceback" in verbose.stderr


def test_demo_reports_model_loading_and_embedding_progress_on_stderr():
    result = cli("demo")
    assert result.returncode == 0, result.stderr
    assert "loading the local model sentence-transformers/all-MiniLM-L6-v2" in result.stderr
    assert "rebuilding 'sample': 5 rows, each embedded again" in result.stderr  # says the cost first
    assert "rebuilding 'sample': copied 5/5 rows" in result.stderr
    assert "1. id=1" in result.stdout and "loading" not in result.stdout


def test_global_flags_are_taken_after_the_subcommand_too():
    bad = "mysql+nosuchdriver://u@127.0.0.1:1/x"
    assert "Traceback" in cli("demo", "--traceback", "--url", bad).stderr
    assert "Traceback" in cli("demo", "--url", bad, "--traceback").stderr
    quiet = cli("models", "-q", "--provider", "huggingface")
    assert quiet.returncode == 0 and "huggingface/BAAI/bge-m3" in quiet.stdout
    # given before the subcommand, a flag is not reset by the subcommand's own default
    assert "Traceback" in cli("--traceback", "demo", "-q", "--url", bad).stderr


def test_demo_with_a_bad_url_says_nothing_before_the_error():
    result = cli("demo", "--url", "notaurl", "-q")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "--url is not a database URL: pass a TiDB URL such as mysql+pymysql://" in result.stderr
    assert "notaurl" not in result.stderr  # a URL can hold a password: it is not echoed


def test_demo_with_an_unreachable_database_announces_and_drops_nothing():
    result = cli("demo", "--url", "mysql+pymysql://u:secret@127.0.0.1:1/x")
    assert result.returncode == 1 and result.stdout == ""
    assert "will create" not in result.stdout and "could not drop" not in result.stderr
    assert result.stderr.count("\n") == 1 and "Can't connect to MySQL server" in result.stderr
    assert "secret" not in result.stderr
