"""The SQLite the embedded engine runs on returns correct rows for queries SQLAlchemy emits.

pysqlite3-binary 0.5.4.post2 (SQLite 3.51.1) returns [8, 8, 8, 9] for the nested correlated
EXISTS below (SQLAlchemy's LoaderCriteriaTest::test_mutual_criteria_execute, on its users /
addresses fixture); 0.5.4 and 0.5.3.post1 (SQLite 3.46.1) return [8, 9]. pyproject.toml
excludes the bad build; this test fails on any build with that bug.
"""

from __future__ import annotations

from sqlalchemy import create_engine

FIXTURE = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(30) NOT NULL)",
    "CREATE TABLE addresses (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), "
    "email_address VARCHAR(50) NOT NULL)",
    "INSERT INTO users VALUES (7, 'jack'), (8, 'ed'), (9, 'fred'), (10, 'chuck')",
    "INSERT INTO addresses VALUES (1, 7, 'jack@bean.com'), (2, 8, 'ed@wood.com'), (3, 8, 'ed@bettyboop.com'), "
    "(4, 8, 'ed@lala.com'), (5, 9, 'fred@fred.com')",
]
# with_loader_criteria(User, <has an address>) and (Address, <its user is not jack>), as SQLAlchemy compiles them.
MUTUAL_CRITERIA = (
    "SELECT users.id FROM users WHERE EXISTS (SELECT addresses.id FROM addresses "
    "WHERE addresses.user_id = users.id AND (EXISTS (SELECT users.id FROM users "
    "WHERE users.id = addresses.user_id AND users.name != ?))) ORDER BY users.id"
)


def test_nested_correlated_exists_returns_each_row_once():
    engine = create_engine("sqlite+tidb_embed://")
    with engine.connect() as conn:
        for statement in FIXTURE:
            conn.exec_driver_sql(statement)
        version = conn.exec_driver_sql("SELECT sqlite_version()").scalar()
        ids = conn.exec_driver_sql(MUTUAL_CRITERIA, ("jack",)).scalars().all()
    assert ids == [8, 9], (
        f"SQLite {version} returns wrong rows for a nested correlated EXISTS: "
        "pip install 'pysqlite3-binary!=0.5.4.post2' (see pyproject.toml)"
    )
