"""SQLAlchemy test provisioning for ``sqlite+tidb_embed://`` (``pytest --dburi sqlite+tidb_embed://``).

SQLAlchemy's testing plugin imports ``<dialect package>.provision``; the embedded engine is
SQLite underneath, so SQLite's provisioning applies, with this driver known to it.
"""

from __future__ import annotations

from sqlalchemy.dialects.sqlite import provision as _sqlite_provision

_sqlite_provision._drivernames.add("tidb_embed")
