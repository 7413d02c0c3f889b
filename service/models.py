"""The live model of this worker: the app's :class:`engine.app.LiveModel`.

The engine watches the registry's live pointer and hot-swaps the
recommender (:mod:`engine.app.live`); this module only attaches one
:class:`~engine.app.LiveModel` to the app (checking at most every
``MODEL_CHECK_INTERVAL`` seconds, default 1 s, and counting swaps in the
metrics) and hands it to the views. Views take one local reference with
:func:`get_recommender`, so a request in flight finishes on the model it
began with.
"""

from __future__ import annotations

from flask import Flask, current_app

from engine.app import LiveModel, Recommender
from engine.domain.catalog import Catalog

__all__ = ["ModelHolder", "get_catalog", "get_holder", "get_recommender", "init_app", "serving_worker"]

#: the engine's live-model holder, under the name the service has always used
ModelHolder = LiveModel


def init_app(app: Flask) -> None:
    """Attach a :class:`~engine.app.LiveModel` (nothing is loaded until the first request needs it)."""
    metrics = app.extensions["dateideas.metrics"]
    app.extensions["dateideas.models"] = LiveModel(
        app.config["MODEL_DIR"], app.config.get("CATALOG_DIR"),
        float(app.config["MODEL_CHECK_INTERVAL"]), on_swap=lambda version: metrics.swaps.inc())


def serving_worker(app: Flask) -> None:
    """Mark ``app`` as served by this worker process (gunicorn's ``post_worker_init``): its live
    model freezes the garbage collector's view after each swap (``LiveModel.freeze_gc``)."""
    app.extensions["dateideas.models"].freeze_gc = True


def get_holder() -> LiveModel:
    """The app's live-model holder (its registry, loaded version and last error)."""
    return current_app.extensions["dateideas.models"]


def get_recommender() -> Recommender:
    """The recommender for this request (take it once, use that reference throughout)."""
    return get_holder().get()


def get_catalog() -> Catalog:
    """The idea catalog the app serves."""
    return get_holder().catalog
