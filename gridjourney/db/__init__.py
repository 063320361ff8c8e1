"""Database: tables, migrations and engines. All SQL lives in each domain's `queries`/`store` module."""
