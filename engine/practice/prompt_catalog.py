"""The prompt catalog: ``data/prompts.csv`` read, checked and cached.

``data/prompts.csv`` holds short conversation prompts, each with a ``depth``
(1 light ... 3 deep), one of the four ``pillar`` s and ``tags``.
:func:`check_prompts` validates a file and counts it (``dateideas catalog
check``); :func:`load_prompts` gives a :class:`PromptCatalog` or raises with
every problem; :func:`default_prompts` is the shipped one, cached per file.
How a prompt is chosen for a suggestion is :mod:`.prompt_choice`.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..domain.catalog import default_catalog_dir
from ..domain.datafiles import Problem, checked_rows
from .pillars import PILLARS

__all__ = [
    "DEPTHS",
    "PILLARS",
    "Prompt",
    "PromptCatalog",
    "PromptCheck",
    "check_prompts",
    "default_prompts",
    "load_prompts",
    "prompts_path",
]

#: prompt depths: 1 light, 2 personal, 3 deep
DEPTHS = (1, 2, 3)

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
    tie_order : ndarray of int (n_prompts,)
        A fixed scrambled order of the prompts that breaks ties between equal fits
        (:func:`engine.practice.prompt_choice.choose_many`, with a seed per couple and day).
    """

    def __init__(self, prompts: Sequence[Prompt]):
        self.prompts = tuple(prompts)
        self._by_id = {p.id: p for p in self.prompts}
        self._index = {p.id: i for i, p in enumerate(self.prompts)}
        self._depth = np.array([p.depth for p in self.prompts], dtype=np.int64)
        self._pillar = np.array([[p.pillar == name for name in PILLARS] for p in self.prompts],
                                dtype=bool).reshape(len(self.prompts), len(PILLARS))
        self.tie_order = np.arange(len(self.prompts), dtype=np.int64) * 40503
        self._fits: dict[tuple, np.ndarray] = {}  # see fits
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

    def positions(self, prompt_ids: Iterable[str]) -> list[int]:
        """Row positions of the prompt ids that are in the catalog (the others skipped)."""
        return [self._index[p] for p in prompt_ids if p in self._index]

    def fits(self, pillars: frozenset[str], words: frozenset[str], depth: int) -> np.ndarray:
        """How well each prompt fits an idea at a depth, shape (n_prompts,): 1000 at the depth, +100 of one
        of the idea's ``pillars``, +10 per tag among the idea's ``words`` (at most 9); -2 when deeper than
        ``depth``. Cached per argument."""
        key = (pillars, words, depth)
        found = self._fits.get(key)
        if found is None:
            hits = [self._vocabulary[w] for w in words if w in self._vocabulary]
            overlap = np.minimum(self._tags[:, hits].sum(axis=1), 9.0) if hits else 0.0
            columns = [j for j, name in enumerate(PILLARS) if name in pillars]
            pillar = self._pillar[:, columns].any(axis=1) if columns else False
            found = (self._depth == depth) * 1000.0 + pillar * 100.0 + overlap * 10.0
            found = np.where(self._depth > depth, -2.0, found)
            if len(self._fits) > 4096:
                self._fits.clear()
            self._fits[key] = found
        return found


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
        read = checked_rows(fh, fname, problems)
        if read is None:
            return [], 0, problems
        header, records = read
        if tuple(header) != _COLUMNS:
            return [], 0, [Problem(fname, 1, None, f"the header must be {','.join(_COLUMNS)}, got "
                                                   f"{','.join(header)}")]
        seen: dict[str, int] = {}
        texts: dict[str, int] = {}
        for line, row in records:
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
