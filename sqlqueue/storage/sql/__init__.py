"""SQL storage: SQLAlchemy Core on SQLite, PostgreSQL and MySQL."""
