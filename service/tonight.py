"""``GET /v1/couples/{id}/tonight``: tonight's suggestion and alternatives."""

from __future__ import annotations

from flask import Blueprint, request

from engine.context import ContextError, parse_context
from engine.registry import NoModelError
from engine.serving import serve_tonight

from .auth import couple_required
from .db import get_store
from .errors import ApiError
from .metrics import get_metrics
from .models import get_recommender

__all__ = ["bp"]

bp = Blueprint("tonight", __name__, url_prefix="/v1/couples")


@bp.get("/<couple_id>/tonight")
@couple_required
def tonight(couple_id: str):
    """Query: budget, minutes, setting, weather, kids, time_of_day (default evening or night), k, another
    (validated by ``parse_context``)."""
    repeated = [key for key, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise ApiError(400, f"give {repeated[0]} once, got {len(request.args.getlist(repeated[0]))} values",
                       field=repeated[0])
    try:
        context, options = parse_context(request.args.to_dict())
    except ContextError as exc:
        raise ApiError(400, str(exc), field=exc.field) from exc
    try:
        recommender = get_recommender()  # this request's model, whatever is promoted meanwhile
    except NoModelError as exc:
        raise ApiError(503, f"no model is loaded yet: {exc}", code="no_model") from exc
    served = serve_tonight(get_store(), recommender, couple_id, context, options["k"],
                           another=options["another"])
    metrics = get_metrics()
    metrics.suggestions.inc(len(served.suggestions))
    metrics.tonight_cache.labels(result="hit" if served.cached else "miss").inc()
    return served.to_dict()
