"""The modelfleet desktop app (PySide6)."""
