"""The store handle: opened once per app (per gunicorn worker), closed at exit."""

from __future__ import annotations

import atexit

from flask import Flask, current_app

from engine.app import Store, open_store

__all__ = ["get_store", "init_app"]


def get_store() -> Store:
    """The app's :class:`engine.store.Store` (thread-safe; one per process)."""
    return current_app.extensions["dateideas.store"]


def init_app(app: Flask) -> None:
    """Open the store named by ``DATABASE_URL`` (no connection is made until first use)."""
    store = open_store(app.config["DATABASE_URL"])
    app.extensions["dateideas.store"] = store
    atexit.register(store.close)
