"""The service's database: ORM models (:mod:`.models`), engines and sessions (:mod:`.session`), Alembic
migrations shipped in the package (:mod:`.migrate`, ``migrations/``) and loading a structure document into the
tables (:mod:`.store`)."""
