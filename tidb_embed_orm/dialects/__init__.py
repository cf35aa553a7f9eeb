"""Per-backend behaviour: one module per SQLAlchemy dialect name (TiDB's mysql is the default)."""
