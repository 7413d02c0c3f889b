"""Questions that deepen: the prompt catalog and the one choice of a prompt per suggestion.

``data/prompts.csv`` holds short conversation prompts, each with a ``depth``
(1 light ... 3 deep), one of the four ``pillar`` s and ``tags``. Every
suggestion - tonight (HTTP, CLI, page) and the newsletter - carries one prompt
chosen here by :func:`choose_prompts`; tonight's path stores it with
:func:`attach_prompts`, the newsletter with ``Store.record_prompts``.

How a prompt is chosen
----------------------
* **Depth.** A couple starts at depth 1. Every :data:`STEP` prompts at (or
  deeper than) their depth that they mark as talked about take them one level
  deeper (at most 3); a skip resets that count, and :data:`STEP_BACK` skips in
  a row of prompts at their depth take them one level lighter (at least 1).
  See :func:`couple_depth`.
* **Fit.** Among the prompts not shown to the couple in the last
  :data:`NO_REPEAT_DAYS` days and no deeper than their depth, the best is the
  one at their depth, of a pillar the idea serves, sharing the most tags with
  the idea (its tags and category words); ties are broken by a seed stable per
  couple, day and idea.
* **Stable within a day.** A prompt already given to an idea for that couple
  and day is given again (the same request twice shows the same prompt).
* **No repeats.** A prompt shown to a couple is not shown again within
  :data:`NO_REPEAT_DAYS` days; when every fitting prompt is used, a suggestion
  goes without one rather than repeat.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import re
import weakref
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..domain.catalog import Problem, default_catalog_dir

__all__ = [
    "DEPTHS",
    "NO_REPEAT_DAYS",
    "PILLARS",
    "Prompt",
    "PromptCatalog",
    "PromptCheck",
    "PromptMarkError",
    "STEP",
    "STEP_BACK",
    "STATUSES",
    "attach_prompts",
    "check_prompts",
    "choose_many",
    "choose_prompts",
    "couple_depth",
    "default_prompts",
    "depth_of",
    "idea_words",
    "load_prompts",
    "mark_prompt",
    "prompt_rows",
    "prompt_state",
    "prompt_window",
    "week_prompts",
    "prompts_path",
]

#: the four pillars a prompt (and an idea) can serve
PILLARS = ("vulnerability", "appreciation", "physical-intimacy", "novelty")
#: prompt depths: 1 light, 2 personal, 3 deep
DEPTHS = (1, 2, 3)
#: a prompt shown to a couple is not shown to them again within this many days (12 weeks)
NO_REPEAT_DAYS = 84
#: prompts at their depth a couple marks as talked about to go one level deeper
STEP = 3
#: prompts at their depth skipped in a row that take a couple one level lighter
STEP_BACK = 2
#: what a couple can say about a prompt
STATUSES = ("talked", "skipped")

_COLUMNS = ("id", "text", "depth", "pillar", "tags")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TEXT_MAX = 300


@dataclass(frozen=True)
class Prompt:
    """One conversation prompt."""

    id: str
    text: str
    depth: int
    pillar: str
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "text", "depth", "pillar"}``: what a suggestion carries."""
        return {"id": self.id, "text": self.text, "depth": self.depth, "pillar": self.pillar}


@dataclass
class PromptCheck:
    """What checking a prompt catalog found."""

    prompts: int
    by_depth: dict[str, int]
    by_pillar: dict[str, int]
    errors: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "by_depth": self.by_depth, "by_pillar": self.by_pillar}


class PromptCatalog:
    """A validated prompt catalog (create with :func:`load_prompts`).

    Attributes
    ----------
    prompts : tuple of Prompt
        In file order.
    """

    def __init__(self, prompts: Sequence[Prompt]):
        self.prompts = tuple(prompts)
        self._by_id = {p.id: p for p in self.prompts}
        self._index = {p.id: i for i, p in enumerate(self.prompts)}
        self._depth = np.array([p.depth for p in self.prompts], dtype=np.int64)
        self._pillar = np.array([[p.pillar == name for name in PILLARS] for p in self.prompts],
                                dtype=bool).reshape(len(self.prompts), len(PILLARS))
        self._order = np.arange(len(self.prompts), dtype=np.int64) * 40503  # tie-breaks, see choose_many
        self._fits: dict[tuple, np.ndarray] = {}  # see _base
        vocabulary = sorted({t for p in self.prompts for t in p.tags})
        self._vocabulary = {t: j for j, t in enumerate(vocabulary)}
        self._tags = np.zeros((len(self.prompts), len(vocabulary)), dtype=np.float64)
        for i, p in enumerate(self.prompts):
            self._tags[i, [self._vocabulary[t] for t in p.tags]] = 1.0

    def __len__(self) -> int:
        return len(self.prompts)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._by_id

    def get(self, prompt_id: str) -> Prompt | None:
        return self._by_id.get(prompt_id)


def prompts_path(path: str | Path | None = None) -> Path:
    """The prompt file for a catalog location (as ``catalog check`` takes it).

    A folder gives ``FOLDER/prompts.csv``; a ``prompts*.csv`` file is itself;
    any other file (an ideas CSV) gives ``prompts.csv`` beside it; default
    the shipped catalog's.
    """
    path = Path(path) if path is not None else default_catalog_dir()
    if path.is_dir():
        return path / "prompts.csv"
    if path.name.startswith("prompts"):
        return path
    return path.with_name("prompts.csv")


def _read(path: Path) -> tuple[list[Prompt], int, list[Problem]]:
    """(valid prompts, data rows read, problems) of a prompt CSV."""
    fname = str(path)
    problems: list[Problem] = []
    prompts: list[Prompt] = []
    rows = 0
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        return [], 0, [Problem(fname, None, None, f"cannot read the prompts file: {exc.strerror or exc}")]
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return [], 0, [Problem(fname, 1, None, "the file is empty; a header row is required")]
        except (UnicodeDecodeError, csv.Error) as exc:
            return [], 0, [Problem(fname, 1, None, f"cannot read the header: {exc}")]
        if tuple(header) != _COLUMNS:
            return [], 0, [Problem(fname, 1, None, f"the header must be {','.join(_COLUMNS)}, got "
                                                   f"{','.join(header)}")]
        seen: dict[str, int] = {}
        texts: dict[str, int] = {}
        end = reader.line_num
        try:
            for row in reader:
                line, end = end + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                rows += 1
                if len(row) != len(_COLUMNS):
                    problems.append(Problem(fname, line, None,
                                            f"expected {len(_COLUMNS)} fields ({','.join(_COLUMNS)}), found "
                                            f"{len(row)}; quote a text that contains commas"))
                    continue
                prompt, found = _check_row(fname, line, dict(zip(_COLUMNS, (c.strip() for c in row))),
                                           seen, texts)
                problems.extend(found)
                if prompt is not None:
                    prompts.append(prompt)
        except (UnicodeDecodeError, csv.Error) as exc:
            problems.append(Problem(fname, end + 1, None, f"cannot read the file: {exc}"))
    return prompts, rows, problems


def _check_row(fname: str, line: int, cells: dict[str, str], seen: dict[str, int],
               texts: dict[str, int]) -> tuple[Prompt | None, list[Problem]]:
    problems = []

    def bad(column: str, message: str) -> None:
        problems.append(Problem(fname, line, column, message))

    pid, text, depth, pillar = cells["id"], cells["text"], cells["depth"], cells["pillar"]
    if not _ID_RE.match(pid):
        bad("id", f"id must be 1-64 lowercase letters, digits and hyphens, got {pid!r}")
    elif pid in seen:
        bad("id", f"duplicate id {pid!r} (first on line {seen[pid]})")
    else:
        seen[pid] = line
    if not text:
        bad("text", "empty text; every prompt needs a question or invitation to talk")
    elif len(text) > _TEXT_MAX:
        bad("text", f"text must be at most {_TEXT_MAX} characters, got {len(text)}")
    elif text.lower() in texts:
        bad("text", f"the same text as line {texts[text.lower()]}")
    else:
        texts[text.lower()] = line
    if depth not in ("1", "2", "3"):
        bad("depth", f"depth must be 1 (light), 2 or 3 (deep), got {depth!r}")
    if pillar not in PILLARS:
        bad("pillar", f"pillar must be one of {', '.join(PILLARS)}, got {pillar!r}")
    tags = tuple(t.strip() for t in cells["tags"].split("|") if t.strip())
    wrong = [t for t in tags if not _TAG_RE.match(t)]
    if wrong:
        bad("tags", f"tags are lowercase words joined by '|', got {wrong[0]!r}")
    if problems:
        return None, problems
    return Prompt(pid, text, int(depth), pillar, tags), []


def check_prompts(path: str | Path | None = None) -> PromptCheck:
    """Validate a prompt catalog and count it by depth and pillar; never raises.

    Parameters
    ----------
    path : str or Path, optional
        As for :func:`prompts_path`.
    """
    prompts, rows, problems = _read(prompts_path(path))
    depths = Counter(str(p.depth) for p in prompts)
    pillars = Counter(p.pillar for p in prompts)
    return PromptCheck(prompts=rows, by_depth={d: depths.get(d, 0) for d in ("1", "2", "3")},
                       by_pillar={p: pillars.get(p, 0) for p in PILLARS}, errors=problems)


def load_prompts(path: str | Path | None = None) -> PromptCatalog:
    """Load and validate a prompt catalog.

    Raises
    ------
    CatalogError
        Listing every problem (file, line, column).
    """
    from ..domain.catalog import CatalogError

    prompts, _rows, problems = _read(prompts_path(path))
    if problems:
        raise CatalogError(problems)
    return PromptCatalog(prompts)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> PromptCatalog | None:
    return load_prompts(path)


def default_prompts(path: str | Path | None = None) -> PromptCatalog | None:
    """The prompt catalog beside the idea catalog (cached per file), or None when there is none."""
    file = prompts_path(path)
    try:
        mtime = file.stat().st_mtime
    except OSError:
        return None
    return _cached(str(file), mtime)


# --------------------------------------------------------------------------- depth


def couple_depth(marks: Iterable[tuple[int, str]]) -> int:
    """A couple's current depth from their marks, oldest first.

    Parameters
    ----------
    marks : iterable of (prompt depth, status)
        ``status`` is ``"talked"`` or ``"skipped"`` (other values are ignored).

    Returns
    -------
    int from 1 to 3
        Start at 1; :data:`STEP` talked-about prompts at or deeper than the
        current depth go one deeper; a skip resets that count, and
        :data:`STEP_BACK` skips in a row at or deeper than the current depth
        go one lighter. Talking about a lighter prompt counts for nothing.
    """
    depth, talked, skipped = 1, 0, 0
    for prompt_depth, status in marks:
        if prompt_depth < depth:
            continue
        if status == "talked":
            talked, skipped = talked + 1, 0
            if talked >= STEP and depth < DEPTHS[-1]:
                depth, talked = depth + 1, 0
        elif status == "skipped":
            talked, skipped = 0, skipped + 1
            if skipped >= STEP_BACK and depth > DEPTHS[0]:
                depth, skipped = depth - 1, 0
    return depth


def _marks(history: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    marked = [row for row in history if row.get("status")]
    marked.sort(key=lambda row: (str(row.get("marked_at") or ""), int(row.get("id") or 0)))
    return [(int(row["depth"]), str(row["status"])) for row in marked]


# --------------------------------------------------------------------------- choosing


def idea_words(idea: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(pillars, words) of an idea: its pillars, and its tags plus the words of its category."""
    if "fit" in idea:  # computed once per catalog by _ideas
        return idea["fit"]
    pillars = frozenset(idea.get("pillars") or ())
    words = set(idea.get("tags") or ())
    category = idea.get("category")
    if isinstance(category, str):
        words.update(w for w in category.replace("-and-", "-").split("-") if w)
    return pillars, frozenset(words)


def _as_day(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value)[:10])


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _base(prompts: PromptCatalog, pillars: frozenset[str], words: frozenset[str], depth: int) -> np.ndarray:
    """How well each prompt fits an idea at a depth, shape (n_prompts,): 1000 at the depth, +100 of one
    of the idea's pillars, +10 per shared tag (at most 9); -2 when deeper than ``depth``. Cached."""
    key = (pillars, words, depth)
    found = prompts._fits.get(key)
    if found is None:
        hits = [prompts._vocabulary[w] for w in words if w in prompts._vocabulary]
        overlap = np.minimum(prompts._tags[:, hits].sum(axis=1), 9.0) if hits else 0.0
        columns = [j for j, name in enumerate(PILLARS) if name in pillars]
        pillar = prompts._pillar[:, columns].any(axis=1) if columns else False
        found = (prompts._depth == depth) * 1000.0 + pillar * 100.0 + overlap * 10.0
        found = np.where(prompts._depth > depth, -2.0, found)
        if len(prompts._fits) > 4096:
            prompts._fits.clear()
        prompts._fits[key] = found
    return found


def choose_prompts(prompts: PromptCatalog, ideas: Mapping[str, Mapping[str, Any]], couple_id: str,
                   day: _dt.date, history: Sequence[Mapping[str, Any]] = ()) -> tuple[dict[str, Prompt | None],
                                                                                   list[dict[str, Any]]]:
    """The prompt for each idea served to a couple on a day (the one choice, see the module notes).

    Parameters
    ----------
    prompts : PromptCatalog
    ideas : mapping idea id -> idea (``pillars``, ``tags``, ``category``)
        The ideas served, in rank order.
    couple_id : str
    day : date
        The serving day (the newsletter's: its Saturday).
    history : sequence of mapping
        The couple's stored prompt rows (``Store.prompt_history``): ``prompt_id``,
        ``idea_id``, ``depth``, ``served_on``, ``status``, ``marked_at``.

    Returns
    -------
    (chosen, new_rows)
        ``chosen`` maps every idea id to its Prompt (or None when every prompt
        that fits was shown in the last :data:`NO_REPEAT_DAYS` days);
        ``new_rows`` are the rows to store for prompts not stored yet
        (``couple_id``, ``prompt_id``, ``idea_id``, ``depth``, ``served_on``).
    """
    return choose_many(prompts, [(couple_id, ideas, history)], day)[0]


def choose_many(prompts: PromptCatalog, couples: Sequence[tuple[str, Mapping[str, Mapping[str, Any]],
                                                               Sequence[Mapping[str, Any]]]],
                day: _dt.date) -> list[tuple[dict[str, Prompt | None], list[dict[str, Any]]]]:
    """:func:`choose_prompts` for many couples at once (the newsletter's chunks), vectorised.

    Each idea's fit (:func:`_base`, cached per idea and depth) plus a
    tie-break seeded per couple, day and idea (a permutation of the prompts,
    ``(40503 i + seed) mod 65521``, distinct for each) is one row of a
    matrix; prompts deeper than the couple's or shown in the last
    :data:`NO_REPEAT_DAYS` days are ruled out; each row takes its best, and a
    couple's later idea whose best an earlier idea took takes its next best,
    exactly as choosing the ideas one after the other.

    Parameters
    ----------
    couples : sequence of (couple id, ideas in rank order, history)
    day : date

    Returns
    -------
    list of (chosen, new_rows), one per couple, as :func:`choose_prompts`.
    """
    since = day - _dt.timedelta(days=NO_REPEAT_DAYS)
    out: list[tuple[dict[str, Prompt | None], list[dict[str, Any]]]] = []
    rows: list[tuple[int, str]] = []  # (couple position, idea id) needing a choice
    bases: list[np.ndarray] = []
    seeds: list[int] = []
    used_by: dict[int, list[int]] = {}
    day_text = day.isoformat()
    for c, (couple_id, ideas, history) in enumerate(couples):
        depth = couple_depth(_marks(history)) if history else DEPTHS[0]
        given: dict[str, str] = {}
        used: set[str] = set()
        for row in history:
            served = _as_day(row["served_on"])
            if served > since:
                used.add(str(row["prompt_id"]))
            if served == day:
                given[str(row["idea_id"])] = str(row["prompt_id"])
        if used:
            used_by[c] = [prompts._index[u] for u in used if u in prompts._index]
        chosen: dict[str, Prompt | None] = {}
        for idea_id, idea in ideas.items():
            if idea_id in given:
                chosen[idea_id] = prompts.get(given[idea_id])  # None if it left the catalog
                continue
            chosen[idea_id] = None
            pillars, words = idea_words(idea)
            rows.append((c, idea_id))
            bases.append(_base(prompts, pillars, words, depth))
            seeds.append(_seed(couple_id, day_text, idea_id) % 65521)
        out.append((chosen, []))
    if not rows or not len(prompts):
        return out
    keys = np.stack(bases) + ((prompts._order[None, :] + np.asarray(seeds)[:, None]) % 65521) / 65521.0
    owner = np.fromiter((c for c, _ in rows), dtype=np.int64, count=len(rows))
    for c, columns in used_by.items():
        if columns:
            keys[np.ix_(np.flatnonzero(owner == c), columns)] = -1.0
    best = keys.argmax(axis=1)
    fits = (keys[np.arange(len(rows)), best] >= 0).tolist()
    best = best.tolist()
    taken: dict[int, list[int]] = {}
    for r, (c, idea_id) in enumerate(rows):
        mine = taken.setdefault(c, [])
        pick, fit = best[r], fits[r]
        if pick in mine:  # an earlier idea of this couple took it: the next best
            keys[r, mine] = -1.0
            pick = int(keys[r].argmax())
            fit = bool(keys[r, pick] >= 0)
        if not fit:
            continue
        mine.append(pick)
        prompt = prompts.prompts[pick]
        chosen, new_rows = out[c]
        chosen[idea_id] = prompt
        new_rows.append({"couple_id": couples[c][0], "prompt_id": prompt.id, "idea_id": idea_id,
                         "depth": prompt.depth, "served_on": day})
    return out


_IDEA_FIELDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _ideas(catalog, idea_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """idea id -> ``{"pillars", "tags", "category"}`` (read once per catalog)."""
    table = _IDEA_FIELDS.get(catalog)
    if table is None:
        frame = catalog.frame
        names = [name for name in ("pillars", "tags", "category") if name in frame]
        table = {str(i): dict(zip(names, values))
                 for i, values in zip(frame.index, frame[names].itertuples(index=False, name=None))}
        for idea in table.values():
            idea["fit"] = idea_words(idea)
        _IDEA_FIELDS[catalog] = table
    return {idea_id: table.get(idea_id, {}) for idea_id in idea_ids}


def attach_prompts(store, couple_id: str, suggestions: Sequence[Any], day: _dt.date, catalog, *,
                   prompts: PromptCatalog | None = None, record: bool = True) -> None:
    """Set ``prompt`` (a dict, or None) on each of tonight's suggestions, storing new ones.

    The couple's prompt rows are read first; only when a suggestion needs a
    prompt not stored yet is a write transaction opened
    (``Store.assign_prompts``: the couple's rows are read again under a lock,
    chosen with :func:`choose_prompts`, stored), so repeated requests write
    nothing and two concurrent ones cannot pick the same prompt.

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
        Store newly chosen prompts (False: choose only, e.g. a dry run).
    """
    prompts = prompts if prompts is not None else default_prompts()
    if prompts is None or not suggestions:
        return
    ideas = _ideas(catalog, [s.idea_id for s in suggestions])
    since = day - _dt.timedelta(days=NO_REPEAT_DAYS)
    history = store.prompt_history([couple_id], since).get(couple_id, [])
    chosen, new_rows = choose_prompts(prompts, ideas, couple_id, day, history)
    if new_rows and record:
        chosen = store.assign_prompts(
            couple_id, since, lambda rows: choose_prompts(prompts, ideas, couple_id, day, rows))
    for s in suggestions:
        prompt = chosen.get(s.idea_id)
        s.prompt = prompt.to_dict() if prompt is not None else None


def depth_of(history: Sequence[Mapping[str, Any]]) -> int:
    """The couple's current depth from their stored prompt rows."""
    return couple_depth(_marks(history))


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
