//! Persistence: SQLite (embedded default) and PostgreSQL (replicas).
