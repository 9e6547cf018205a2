"""Widgets: take their view-model in `__init__`, subscribe to it, never do I/O."""
