"""SQLAlchemy's testing plugin finds the embedded engine's provisioning (scripts/test-dialect-suites runs the suites)."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def test_the_testing_plugin_provisions_the_embedded_engine():
    from sqlalchemy.testing import provision

    make_url("sqlite+tidb_embed://").get_dialect().load_provisioning()  # what the plugin does for --dburi
    url = provision.generate_driver_url(make_url("sqlite+tidb_embed:///querytest.db"), "tidb_embed", "")
    assert (url.drivername, url.database) == ("sqlite+tidb_embed", "querytest_tidb_embed.db")
    follower = provision.follower_url_from_main(make_url("sqlite+tidb_embed:///querytest.db"), "follower1")
    assert follower.database == "querytest_tidb_embed_follower1.db"
