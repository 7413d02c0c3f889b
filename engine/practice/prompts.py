"""Questions that deepen: a prompt on each suggestion, stored, and what the couple says about it.

Every suggestion - tonight (HTTP, CLI, page) and the newsletter - carries one
conversation prompt. The pieces:

* :mod:`.prompt_catalog` - ``data/prompts.csv`` read, checked and cached;
* :mod:`.prompt_depth` - how deep a couple's prompts go, from their marks;
* :mod:`.prompt_choice` - the one choice of a prompt per suggestion;
* this module - the store's side: tonight's prompts chosen and stored
  with the request's suggestion log (:func:`attach_prompts`), a couple's marks (:func:`mark_prompt`,
  :func:`prompt_state`), and the newsletter's week (:func:`week_prompts`,
  :func:`prompt_rows`, stored with ``Store.record_prompts``).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..domain.catalog import per_catalog
from .prompt_catalog import PromptCatalog, default_prompts
from .prompt_choice import NO_REPEAT_DAYS, choose_many, choose_prompts, idea_words
from .prompt_depth import STATUSES, depth_of

__all__ = [
    "PromptMarkError",
    "attach_prompts",
    "mark_prompt",
    "prompt_rows",
    "prompt_state",
    "prompt_window",
    "week_prompts",
]

#: fits kept per catalog before the memo starts afresh (a request needs three to six; a newsletter
#: batch a few hundred): a table of every idea was ~40 MiB of dicts and sets at 50,000 ideas
_FITS_KEPT = 8192


class _IdeaFields:
    """One catalog's ``(pillars, words)`` per idea (:func:`~.prompt_choice.idea_words`), computed
    for the ideas asked about and remembered (a bounded memo)."""

    def __init__(self, catalog):
        frame = catalog.frame
        self.index = frame.index
        self.names = [name for name in ("pillars", "tags", "category") if name in frame]
        self.columns = [frame[name].to_numpy(dtype=object) for name in self.names]
        self.fits: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def fit(self, idea_id: str) -> tuple[frozenset[str], frozenset[str]] | None:
        """The idea's ``(pillars, words)``; None for an id not in the catalog."""
        fit = self.fits.get(idea_id)
        if fit is None:
            try:
                at = self.index.get_loc(idea_id)
            except KeyError:
                return None
            if len(self.fits) >= _FITS_KEPT:
                self.fits.clear()
            fit = self.fits[idea_id] = idea_words({n: c[at] for n, c in zip(self.names, self.columns)})
        return fit


#: per catalog: its ideas' pillars, tags and category columns, and the fits computed so far
_fields_of = per_catalog(_IdeaFields)


def _ideas(catalog, idea_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """idea id -> ``{"fit": (pillars, words)}`` (``{}`` for an id not in the catalog)."""
    fields = _fields_of(catalog)
    out = {}
    for idea_id in idea_ids:
        fit = fields.fit(str(idea_id))
        out[idea_id] = {} if fit is None else {"fit": fit}
    return out


def attach_prompts(store, couple_id: str, suggestions: Sequence[Any], day: _dt.date, catalog, *,
                   prompts: PromptCatalog | None = None, record: bool = True,
                   log_rows: Sequence[Mapping[str, Any]] = ()) -> None:
    """Set ``prompt`` (a dict, or None) on each of tonight's suggestions, storing new ones.

    The couple's prompt rows are read first; only when a suggestion needs a
    prompt not stored yet, or there are ``log_rows``, is a write transaction
    opened, one in all (``Store.record_served``: the couple's rows are read
    again under a lock, chosen with :func:`choose_prompts`, stored with the
    log rows), so a repeated request whose list is logged writes nothing and
    two concurrent ones cannot pick the same prompt.

    Parameters
    ----------
    store : Store
    couple_id : str
    suggestions : sequence of Suggestion
        Modified in place.
    day : date
    catalog : Catalog
        The idea catalog (pillars, tags, category of the ideas).
    prompts : PromptCatalog, optional
        Default :func:`default_prompts`; without a prompt catalog nothing is attached.
    record : bool, default=True
        Store newly chosen prompts and ``log_rows`` (False: choose only, e.g. a dry run).
    log_rows : sequence of dict, default=()
        The request's rows for the suggestion log (as ``Store.log_suggestions``
        takes them), written in the same transaction as the new prompts: both
        or neither.
    """
    prompts = prompts if prompts is not None else default_prompts()
    log_rows = list(log_rows) if record else []
    if prompts is None or not suggestions:
        if log_rows:
            store.log_suggestions(log_rows)
        return
    ideas = _ideas(catalog, [s.idea_id for s in suggestions])
    since = day - _dt.timedelta(days=NO_REPEAT_DAYS)
    history = store.prompt_history([couple_id], since).get(couple_id, [])
    chosen, new_rows = choose_prompts(prompts, ideas, couple_id, day, history)
    if new_rows and record:
        chosen, _ = store.record_served(
            couple_id, since, lambda rows: choose_prompts(prompts, ideas, couple_id, day, rows), log_rows)
    elif log_rows:
        store.log_suggestions(log_rows)
    for s in suggestions:
        prompt = chosen.get(s.idea_id)
        s.prompt = prompt.to_dict() if prompt is not None else None


class PromptMarkError(ValueError):
    """A prompt cannot be marked as asked; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def prompt_state(store, couple_id: str, day: _dt.date | None = None) -> dict[str, Any]:
    """``{"depth", "talked", "skipped"}``: where a couple is (the API's ``GET .../prompts``)."""
    day = day or _dt.date.today()
    history = store.prompt_history([couple_id], day - _dt.timedelta(days=NO_REPEAT_DAYS)).get(couple_id, [])
    statuses = Counter(row["status"] for row in history if row.get("status"))
    return {"depth": depth_of(history), "talked": statuses.get("talked", 0), "skipped": statuses.get("skipped", 0)}


def mark_prompt(store, couple_id: str, prompt_id: Any, status: Any) -> dict[str, Any]:
    """Record that a couple talked about a prompt or skipped it; the API and the page call this.

    Returns
    -------
    dict
        ``{"prompt_id", "status", "depth", "talked", "skipped"}`` after the mark.

    Raises
    ------
    PromptMarkError
        ``status`` not one of :data:`STATUSES`, or a prompt never shown to the couple.
    """
    if status not in STATUSES:
        raise PromptMarkError("status", f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if not isinstance(prompt_id, str) or store.mark_prompt(couple_id, prompt_id, status) is None:
        raise PromptMarkError("prompt_id", f"prompt {prompt_id!r} was never shown to this couple; "
                                           "mark a prompt that came with one of your suggestions")
    return {"prompt_id": prompt_id, "status": status, **prompt_state(store, couple_id)}


# --------------------------------------------------------------------------- the newsletter


def _saturday(week: _dt.date) -> _dt.date:
    return week - _dt.timedelta(days=week.weekday()) + _dt.timedelta(days=5)


def prompt_window(week: _dt.date) -> _dt.date:
    """``since`` for ``Store.prompt_history`` when planning a newsletter week (any day of it)."""
    return _saturday(week) - _dt.timedelta(days=NO_REPEAT_DAYS)


def week_prompts(catalog, suggestions: Mapping[str, Sequence[Any]], day: _dt.date,
                 history: Mapping[str, Sequence[Mapping[str, Any]]],
                 prompts: PromptCatalog | None = None) -> dict[tuple[str, str], dict[str, Any] | None]:
    """The newsletter's prompts: :func:`choose_prompts` for each couple's picks on ``day``.

    Returns
    -------
    dict (couple id, idea id) -> prompt dict or None (empty without a prompt catalog)
    """
    prompts = prompts if prompts is not None else default_prompts()
    if prompts is None:
        return {}
    couples = [(couple, _ideas(catalog, [s.idea_id for s in picks]), history.get(couple, ()))
               for couple, picks in suggestions.items()]
    out: dict[tuple[str, str], dict[str, Any] | None] = {}
    for (couple, _, _), (chosen, _) in zip(couples, choose_many(prompts, couples, day)):
        for idea_id, prompt in chosen.items():
            out[(couple, idea_id)] = prompt.to_dict() if prompt is not None else None
    return out


def prompt_rows(picks, week: _dt.date) -> list[dict[str, Any]]:
    """Rows for ``Store.record_prompts`` from a newsletter picks frame (its ``prompt`` column)."""
    if "prompt" not in picks or not len(picks):
        return []
    day = _saturday(week)
    return [{"couple_id": str(c), "prompt_id": p["id"], "idea_id": str(i), "depth": int(p["depth"]),
             "served_on": day}
            for c, i, p in zip(picks["couple_id"], picks["idea_id"], picks["prompt"]) if p]
