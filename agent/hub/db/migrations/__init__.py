"""Alembic environment and revisions of the hub database (shipped as package data)."""
