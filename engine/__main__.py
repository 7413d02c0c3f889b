"""``python -m engine`` runs the ``dateideas`` CLI."""

from .cli import main

main()
