"""Rendering: one HTML email (inline CSS, no external assets) and its plain-text twin per couple.

Templates live in ``engine/templates/newsletter/`` (``email.html`` with one
``pick.html`` block per pick, ``email.txt``; Jinja2). HTML is autoescaped;
every pick's block carries ``data-idea`` and ``data-rank`` attributes so
tools (and tests) can parse it. A pick's block depends only on the pick
(idea, rank, reason), and many couples share one, so rendered blocks are
kept in a bounded cache (:func:`_pick_html`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import textwrap
import urllib.parse
from collections.abc import Iterable, Mapping

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from ..domain.catalog import Catalog, per_catalog
from .planning import pick_records, week_context, week_start

__all__ = ["email_filename", "email_subject", "render_email", "render_emails"]

_COST = {"0": "free", "1": "cheap", "2": "moderate cost", "3": "a splurge"}
_SETTING = {"home": "at home", "out": "out in town", "away": "away overnight"}
_COLOURS = ("#a0522d", "#5f7f6a", "#6a5f8f", "#b07a2a", "#4f7a96")
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@functools.lru_cache(maxsize=4)
def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("engine", "templates/newsletter"),
        autoescape=name.endswith(".html"), keep_trailing_newline=True, auto_reload=False,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name)


@functools.lru_cache(maxsize=8192)
def _pick_html(rank: int, idea_id: str, title: str, reason: str, category_label: str, description: str,
               facts: tuple[str, ...], colour: str, prompt: str = "", prompt_id: str = "",
               rate_url: str = "") -> markupsafe.Markup:
    """One pick's HTML block (``pick.html``), rendered once per distinct pick (~1.5 kB each); a sent
    email's block has the reader's own signed "rate it" link (``rate_url``), so it is not shared."""
    pick = {"rank": rank, "idea_id": idea_id, "title": title, "reason": reason, "category_label": category_label,
            "description": description, "facts": list(facts), "colour": colour, "prompt": prompt,
            "prompt_id": prompt_id, "rate_url": rate_url}
    return markupsafe.Markup(_template("pick.html").render(pick=pick))


def email_filename(couple_id: str) -> str:
    """A safe file stem for a couple id (the id itself when it is already safe, else %-encoded)."""
    couple_id = str(couple_id)
    if _SAFE.match(couple_id):
        return couple_id
    return urllib.parse.quote(couple_id, safe="").replace(".", "%2E")


def _duration(minutes) -> str | None:
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        return None
    if np.isnan(minutes):
        return None
    if minutes >= 1440:
        days = round(minutes / 1440)
        return f"about {days} day{'s' if days != 1 else ''}"
    if minutes >= 90:
        hours = round(minutes / 60 * 2) / 2
        return f"about {hours:g} hours"
    return f"about {int(minutes)} minutes"


def _facts(idea: Mapping) -> list[str]:
    facts = []
    cost = idea.get("cost")
    if cost is not None and str(cost) in _COST:
        facts.append(_COST[str(cost)])
    duration = _duration(idea.get("duration_min"))
    if duration:
        facts.append(duration)
    setting = idea.get("setting")
    if isinstance(setting, str) and setting in _SETTING:
        facts.append(_SETTING[setting])
    return facts


def _label(value) -> str:
    return str(value or "").replace("-", " ").strip().capitalize() or "Date idea"


@per_catalog
def _idea_info(catalog: Catalog) -> dict[str, tuple[str, str, list[str]]]:
    """idea id -> (description, description wrapped for text, facts), once per catalog."""
    out = {}
    for idea_id, idea in zip(catalog.frame.index, catalog.frame.to_dict(orient="records")):
        description = idea.get("description")
        description = description if isinstance(description, str) else ""
        out[str(idea_id)] = (description, textwrap.fill(description, 72), _facts(idea))
    return out


@functools.lru_cache(maxsize=4096)
def _wrapped(text: str) -> str:
    """``text`` wrapped at 72 columns for the plain-text email (the prompts repeat: read once each)."""
    return textwrap.fill(text, 72)


def email_subject(n_picks: int, week: _dt.date | str) -> str:
    """The email's subject: ``"3 date ideas for the weekend of 7 June"``."""
    saturday = week_context(week_start(week)).day
    return f"{n_picks} date idea{'s' if n_picks != 1 else ''} for the weekend of {saturday.day} {saturday:%B}"


@functools.lru_cache(maxsize=64)
def _week_texts(monday: _dt.date, n: int) -> tuple[str, str, str]:
    """The week's label, the subject and the headline of an email of ``n`` picks (the same for
    every couple of a week: worked out once)."""
    saturday = week_context(monday).day
    return (f"{monday.day} {monday:%B %Y}", email_subject(n, monday),
            f"{n} idea{'s' if n != 1 else ''} for {saturday:%A} {saturday.day} {saturday:%B}")


def render_email(couple_id: str, picks: Iterable[Mapping], week: _dt.date | str,
                 catalog: Catalog, *, links: Mapping | None = None,
                 _info: dict[str, tuple[str, str, list[str]]] | None = None) -> tuple[str, str]:
    """The HTML email and its plain-text alternative for one couple.

    Parameters
    ----------
    couple_id : str
    picks : iterable of mapping
        The couple's rows of :func:`~engine.newsletter.plan_picks` (``rank``,
        ``idea_id``, ``title``, ``reason``, ``category``), best first.
    week : date or "YYYY-MM-DD"
    catalog : Catalog
        For descriptions and facts (cost, duration, setting).
    links : mapping, optional
        For an email that is sent (``newsletter --send``): ``{"rate": {idea id: url},
        "unsubscribe": url}``, the reader's signed links. Without it (the files
        the run writes) the email has no links at all.

    Returns
    -------
    (html, text) : tuple of str
    """
    monday = week_start(week)
    info = _idea_info(catalog) if _info is None else _info
    rate_urls = (links or {}).get("rate") or {}
    items = []
    for i, pick in enumerate(picks):
        description, wrapped, facts = info.get(str(pick["idea_id"]), ("", "", []))
        item = {
            "rank": int(pick["rank"]), "idea_id": str(pick["idea_id"]), "title": str(pick["title"]),
            "reason": str(pick["reason"]) or "a good fit for this weekend",
            "category_label": _label(pick.get("category")),
            "description": description, "description_text": wrapped, "facts": facts,
            "colour": _COLOURS[i % len(_COLOURS)],
        }
        prompt = pick.get("prompt") if isinstance(pick.get("prompt"), Mapping) else {}
        item["prompt"], item["prompt_text"] = prompt.get("text", ""), _wrapped(prompt.get("text", ""))
        item["rate_url"] = str(rate_urls.get(item["idea_id"], ""))
        item["html"] = _pick_html(item["rank"], item["idea_id"], item["title"], item["reason"],
                                  item["category_label"], description, tuple(facts), item["colour"],
                                  item["prompt"], prompt.get("id", ""), item["rate_url"])
        items.append(item)
    week_label, subject, headline = _week_texts(monday, len(items))
    values = {
        "couple_id": str(couple_id),
        "week_label": week_label,
        "subject": subject,
        "headline": headline,
        "intro": ("Picked for you two: things we think you will enjoy, each a little different "
                  "from your usual - couples who try something new together grow closer."),
        "picks": items,
        "unsubscribe_url": str((links or {}).get("unsubscribe") or ""),
    }
    return _template("email.html").render(values), _template("email.txt").render(values)


def render_emails(picks: pd.DataFrame, week: _dt.date | str, catalog: Catalog) -> dict[str, tuple[str, str]]:
    """:func:`render_email` for every couple in a picks frame (couples with no picks get none).

    Returns
    -------
    dict couple id -> (html, text)
    """
    out: dict[str, tuple[str, str]] = {}
    if not len(picks):
        return out
    info = _idea_info(catalog)
    records = pick_records(picks)
    start = 0
    for end in range(1, len(records) + 1):
        if end == len(records) or records[end]["couple_id"] != records[start]["couple_id"]:
            couple = records[start]["couple_id"]
            out[couple] = render_email(couple, records[start:end], week, catalog, _info=info)
            start = end
    return out
