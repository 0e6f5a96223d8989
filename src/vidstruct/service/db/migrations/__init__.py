"""Alembic migrations of the service's database (``env.py``, ``versions/``), shipped in the package."""
