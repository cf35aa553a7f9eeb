"""Helpers for tests and benchmarks of code that talks to TiDB over the MySQL protocol."""
