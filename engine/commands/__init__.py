"""Subcommands of the ``dateideas`` CLI, one module per area."""
