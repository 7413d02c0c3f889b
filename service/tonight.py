"""``GET /v1/couples/{id}/tonight``: tonight's suggestion and alternatives."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from engine.app import AnotherLimitError, NoModelError, seconds_until_tomorrow, serve_tonight
from engine.domain.context import ContextError, parse_context

from .auth import couple_required
from .db import get_store
from .errors import ApiError, error_response
from .metrics import get_metrics
from .models import get_recommender

__all__ = ["another_limit_response", "bp"]

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
    try:
        served = serve_tonight(get_store(), recommender, couple_id, context, options["k"],
                               another=options["another"], another_limit=current_app.config["ANOTHER_PER_DAY"])
    except AnotherLimitError as exc:
        return another_limit_response(exc)
    metrics = get_metrics()
    metrics.suggestions.inc(len(served.suggestions))
    metrics.tonight_cache.labels(result="hit" if served.cached else "miss").inc()
    return served.to_dict()


def another_limit_response(exc: AnotherLimitError):
    """429 ``too_many_requests`` for ``another`` beyond the couple's daily limit, with ``Retry-After``
    (seconds until the serving day changes at local midnight)."""
    response = error_response(429, str(exc), field="another", code="too_many_requests")
    response.headers["Retry-After"] = str(seconds_until_tomorrow())
    return response
