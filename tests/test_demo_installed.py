"""The demo as a user meets it: from an installed wheel, and as a guest in their own database."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, create_engine, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm.demo.run import main as run_demo

REPO = Path(__file__).resolve().parents[1]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment holding only the wheel built from this tree (dependencies are
    borrowed, read-only, from the running environment so that the test needs no network)."""
    if subprocess.run([sys.executable, "-c", "import setuptools, pip"]).returncode != 0:
        pytest.skip("building a wheel offline needs setuptools and pip in the test environment")
    root = tmp_path_factory.mktemp("wheel")
    env = clean_env()  # a PYTHONPATH naming the source tree would make pip think the package is installed
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), "."],
        cwd=REPO, env=env, check=True, capture_output=True,
    )
    wheel = next((root / "dist").glob("tidb_embed_orm-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
         "--force-reinstall", str(wheel)],
        cwd=root, env=env, check=True, capture_output=True,
    )
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip())
    # A plain path entry, after the venv's own site-packages: dependencies only, never this source tree.
    (site / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_demo_runs_from_an_installed_wheel_outside_the_source_tree(installed_venv, tmp_path):
    env = clean_env()
    where = subprocess.run([str(installed_venv / "bin" / "python"), "-c", "import tidb_embed_orm; print(tidb_embed_orm.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(installed_venv)), where.stderr
    result = subprocess.run([str(installed_venv / "bin" / "tidb-embed-orm"), "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1. id=1" in result.stdout and "2. id=4" in result.stdout
    assert "rebuilt: 5 rows kept" in result.stdout


class UserBase(DeclarativeBase):
    pass


class UserSample(UserBase):
    """The user's own table, named as the TiDB page tells them to name it."""

    __tablename__ = "sample"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


@pytest.mark.real_model
def test_demo_url_leaves_the_users_tables_and_migration_history_alone(tmp_path):
    url = f"sqlite+tidb_embed:///{tmp_path / 'user.db'}"
    engine = create_engine(url)
    UserBase.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add_all([UserSample(id=1, name="mine"), UserSample(id=2, name="also mine")])
        session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        session.execute(text("INSERT INTO alembic_version VALUES ('users_own_head')"))
    before = set(inspect(engine).get_table_names())

    import io

    out = io.StringIO()
    assert run_demo(url, None, out, io.StringIO()) == 0
    said = out.getvalue()

    created = said.split("the demo will create the table ", 1)[1].split()[0]
    assert created.startswith("tidb_embed_demo_") and said.index("will create") < said.index("migrating")
    assert "1. id=1" in said and "2. id=4" in said
    assert "cleaned up: dropped" in said and created in said.split("cleaned up: dropped")[1]
    shown = said.split("the SQL TiDB receives for the same code:")[1]  # the tables this run used
    assert f"CREATE TABLE {created} (" in shown and f"CREATE TABLE {created}_version (" in shown
    assert f"FROM {created} ORDER BY VEC_EMBED_COSINE_DISTANCE({created}.embedding" in shown
    assert "CREATE TABLE sample" not in shown and "alembic_version" not in shown
    engine.dispose()
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == before
    with Session(engine) as session:
        assert session.execute(select(UserSample.id, UserSample.name).order_by(UserSample.id)).all() == [
            (1, "mine"), (2, "also mine")]
        assert session.scalars(text("SELECT version_num FROM alembic_version")).all() == ["users_own_head"]
    assert [c["name"] for c in inspect(engine).get_columns("sample")] == ["id", "name"]
    engine.dispose()


def test_a_failed_demo_url_run_cleans_up_and_leaves_the_users_tables_alone(mariadb):
    """MariaDB has no VECTOR type, so the demo's first migration fails there: it must still clean up."""
    engine = create_engine(mariadb["url"])
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS sample")
        conn.exec_driver_sql("CREATE TABLE sample (id INT PRIMARY KEY, name VARCHAR(40))")
        conn.exec_driver_sql("INSERT INTO sample VALUES (1, 'mine')")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("DELETE FROM alembic_version")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('users_own_head')")
    before = set(inspect(engine).get_table_names())
    result = subprocess.run([sys.executable, "-m", "tidb_embed_orm.cli", "demo", "--url", mariadb["url"]],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "the demo will create the table tidb_embed_demo_" in result.stdout
    assert "cleaned up: dropped tidb_embed_demo_" in result.stdout
    assert result.stderr.strip().startswith("tidb-embed-orm: error: ") and result.stderr.count("\n") == 1
    assert set(inspect(engine).get_table_names()) == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, name FROM sample").all() == [(1, "mine")]
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["users_own_head"]
        conn.exec_driver_sql("DROP TABLE sample")
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.commit()
    engine.dispose()
