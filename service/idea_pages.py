"""The pages for browsing and keeping ideas: Ideas (search), Saved, "Save for later" and "Not for us".

Routes on the pages blueprint (:mod:`service.pages`: same session, CSRF check
and headers). A mark is a row in ``idea_marks`` (``Store.mark_idea``); no idea
above the couple's intimacy level is listed or can be saved
(:func:`service.pages._allowed_ideas`, the rule every suggestion obeys).
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from engine.app import NOT_FOR_US, SAVED

from .db import get_store
from .models import get_catalog
from .pages import _allowed_ideas, _error_page, _signed_in, bp

__all__ = ["search_ideas"]


# ------------------------------------------------------------------ "Not for us" and saved ideas

# where a mark's form may send the couple back to (no open redirects)
_BACK = {"tonight": "pages.tonight", "ideas": "pages.ideas", "saved": "pages.saved"}
_MARK_WORDS = {
    (NOT_FOR_US, False): "We will not suggest {title} again. Changed your mind? It is under Saved, \"Not for us\".",
    (NOT_FOR_US, True): "{title} can be suggested again.",
    (SAVED, False): "Saved {title} for later.",
    (SAVED, True): "{title} is no longer saved.",
}


@bp.post("/ideas/<idea_id>/mark")
@_signed_in
def mark_idea(idea_id: str):
    """"Not for us" (never suggested again) or "Save for later" on an idea; ``undo=1`` takes it back."""
    kind = request.form.get("kind", "")
    if kind not in (NOT_FOR_US, SAVED):
        return _error_page(400, "Choose \"Not for us\" or \"Save for later\".")
    catalog = get_catalog()
    undo = request.form.get("undo") == "1"
    # an idea above the couple's intimacy level is never listed, so it cannot be saved either
    if idea_id not in catalog or (kind == SAVED and not undo and idea_id not in _allowed_ideas(g.couple_id)):
        return _error_page(404, "There is no such idea. Go back to Tonight and try again.")
    store = get_store()
    if undo:
        store.unmark_idea(g.couple_id, idea_id, kind)
    else:
        store.mark_idea(g.couple_id, idea_id, kind)
    flash(_MARK_WORDS[(kind, undo)].format(title=catalog.frame.at[idea_id, "title"]))
    back = _BACK.get(request.form.get("back", ""), "pages.tonight")
    query = request.form.get("q", "")[:100] if back == "pages.ideas" else ""
    return redirect(url_for(back, q=query) if query else url_for(back), 303)


_QUERY_MAX = 100
_BROWSE_MAX = 60  # ideas listed at once; the search narrows the rest


def search_ideas(couple_id: str, query: str) -> list[str]:
    """The couple's allowed ideas whose title or description holds every word of ``query`` (any case),
    titles matching first, then by title."""
    frame = get_catalog().frame
    words = query.casefold().split()
    found = []
    for idea in _allowed_ideas(couple_id):
        title = str(frame.at[idea, "title"])
        text = f"{title} {frame.at[idea, 'description'] if 'description' in frame else ''}".casefold()
        if all(word in text for word in words):
            in_title = all(word in title.casefold() for word in words)
            found.append((not in_title, title.casefold(), idea))
    return [idea for *_, idea in sorted(found)]


@bp.get("/ideas")
@_signed_in
def ideas():
    """Browse the ideas: a search over titles and descriptions, never an idea above the couple's intimacy
    level; each can be saved for later (or unsaved) and rated."""
    query = request.args.get("q", "")[:_QUERY_MAX].strip()
    found = search_ideas(g.couple_id, query)
    saved_ids = {m["idea_id"] for m in get_store().marked_ideas(g.couple_id, SAVED)}
    frame = get_catalog().frame
    shown = [{"id": i, "title": frame.at[i, "title"], "idea": frame.loc[i], "saved": i in saved_ids}
             for i in found[:_BROWSE_MAX]]
    return render_template("pages/ideas.html", q=query, shown=shown, total=len(found))


@bp.get("/saved")
@_signed_in
def saved():
    """The ideas saved for later, and those marked "not for us" (each can be taken back)."""
    catalog = get_catalog()
    store = get_store()
    allowed = set(_allowed_ideas(g.couple_id))  # saved before the level was lowered: not listed now

    def listed(kind: str, only_allowed: bool) -> list[dict]:
        return [{"id": m["idea_id"], "title": catalog.frame.at[m["idea_id"], "title"],
                 "idea": catalog.frame.loc[m["idea_id"]]}
                for m in store.marked_ideas(g.couple_id, kind)
                if m["idea_id"] in catalog and (not only_allowed or m["idea_id"] in allowed)]

    return render_template("pages/saved.html", saved=listed(SAVED, True), not_for_us=listed(NOT_FOR_US, False))
