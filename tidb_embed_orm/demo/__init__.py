"""The seed page, end to end: schema, rows and search, on the embedded engine or on TiDB Cloud."""
