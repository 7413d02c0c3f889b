"""The run's files: emails, part files per chunk, the merged picks and summary, the staging swap.

An output folder holds ``emails/<couple>.html|.txt``, ``parts/<run>-<chunk>.csv|.jsonl``
(one chunk's picks each, written atomically: :mod:`engine.domain.files`),
``picks.csv`` / ``picks.jsonl`` (the parts merged), ``summary.json`` and
``week.json`` (the week the folder holds). A forced run builds the week in
``.staging`` and swaps it in when complete (:func:`_swap_in`). How a run uses
them is in :mod:`.running`.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..domain.csvcells import neutralise_frame, restore_frame
from ..domain.files import atomic_file
from ..domain.files import atomic_write as _atomic_write
from .errors import NewsletterError
from .planning import PICK_COLUMNS, pick_records
from .rendering import email_filename

__all__: list[str] = []  # internals of the run (:mod:`.running`, :mod:`.chunks`)

_CSV_COLUMNS = list(PICK_COLUMNS)


def _atomic_concat(path: Path, header: str, parts: Sequence[Path]) -> None:
    with atomic_file(path, binary=True) as out:
        out.write(header.encode("utf-8"))
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)


#: how an email file is opened: created or overwritten (a re-run of the week writes it again)
_EMAIL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write_emails(folder: Path, emails: dict[str, tuple[str, str]]) -> None:
    """Each couple's ``<stem>.html`` and ``<stem>.txt`` in ``folder``: opened by name within the folder
    (``dir_fd``, where the platform has it: the path is not looked up again per file) and written as
    bytes, without a text layer per file (two files per couple: a million couples are 2M files)."""
    folder_fd = os.open(folder, os.O_RDONLY) if os.open in os.supports_dir_fd else None
    try:
        for couple, (html, text) in emails.items():
            stem = email_filename(couple)
            for name, body in ((f"{stem}.html", html), (f"{stem}.txt", text)):
                if folder_fd is None:
                    fd = os.open(folder / name, _EMAIL_FLAGS, 0o666)
                else:
                    fd = os.open(name, _EMAIL_FLAGS, 0o666, dir_fd=folder_fd)
                with open(fd, "wb", closefd=True) as handle:
                    handle.write(body.encode("utf-8"))
    finally:
        if folder_fd is not None:
            os.close(folder_fd)


def _part_stem(run_id: int, index: int) -> str:
    return f"{run_id:08d}-{index:06d}"


def _write_chunk_files(out_dir: Path, run_id: int, index: int, picks: pd.DataFrame,
                       emails: dict[str, tuple[str, str]]) -> None:
    """A chunk's emails, then its part files (the part files mark the chunk as written)."""
    _write_emails(out_dir / "emails", emails)
    _write_part(out_dir / "parts", _part_stem(run_id, index), picks)


def _write_part(parts: Path, stem: str, picks: pd.DataFrame) -> None:
    """One chunk's picks as ``<stem>.jsonl`` then ``<stem>.csv`` (no header), each atomically."""
    records = pick_records(picks, _CSV_COLUMNS + ["reasons"] + (["prompt"] if "prompt" in picks else []))
    lines = []
    for row in records:
        row["run_id"] = None if pd.isna(row["run_id"]) else int(row["run_id"])
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    _atomic_write(parts / f"{stem}.jsonl", "".join(lines))
    # picks.csv is an export opened in spreadsheets: text cells neutralised against formula injection
    _atomic_write(parts / f"{stem}.csv", neutralise_frame(picks[_CSV_COLUMNS]).to_csv(
        index=False, header=False, lineterminator="\n"))


def _part_files(parts: Path) -> list[Path]:
    return sorted(parts.glob("*.csv")) if parts.is_dir() else []


_TEXT_COLUMNS = ["couple_id", "idea_id", "title", "reason", "category", "pillars", "model_version"]


def _read_part(path: Path) -> pd.DataFrame:
    """A part file's picks as written (text cells restored: :func:`engine.domain.csvcells.restore_frame`)."""
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=_CSV_COLUMNS)
    frame = pd.read_csv(path, header=None, names=_CSV_COLUMNS, dtype=dict.fromkeys(_TEXT_COLUMNS, str),
                        keep_default_na=False, na_values={"score": [""], "run_id": [""]})
    return restore_frame(frame, _TEXT_COLUMNS)


def _drop_orphans(parts: Path, sent: set[str]) -> int:
    """Delete part files none of whose couples is recorded as sent; return how many."""
    dropped = 0
    for csv in _part_files(parts):
        couples = set(_read_part(csv)["couple_id"])
        if couples and couples.isdisjoint(sent):
            csv.unlink()
            csv.with_suffix(".jsonl").unlink(missing_ok=True)
            dropped += 1
        elif couples and not couples <= sent:
            raise NewsletterError(
                f"{csv} holds couples that are partly recorded as sent; the output folder does not "
                "match the database. Use a fresh --out folder with --force."
            )
    for jsonl in parts.glob("*.jsonl") if parts.is_dir() else []:
        if not jsonl.with_suffix(".csv").exists():  # crashed between the two part files
            jsonl.unlink()
    return dropped


def _summarise(parts: list[Path]) -> dict[str, Any]:
    couples: set[str] = set()
    n_picks = 0
    categories: collections.Counter = collections.Counter()
    pillars: collections.Counter = collections.Counter()
    versions: set[str] = set()
    runs: set[int] = set()
    for path in parts:
        frame = _read_part(path)
        if not len(frame):
            continue
        couples.update(frame["couple_id"])
        n_picks += len(frame)
        categories.update(frame["category"])
        for value in frame["pillars"]:
            pillars.update(p for p in value.split("|") if p)
        versions.update(frame["model_version"].astype(str))
        runs.update(int(r) for r in frame["run_id"].dropna())
    share = (lambda counter: {key: round(n / n_picks, 4) for key, n in counter.most_common()}) \
        if n_picks else (lambda counter: {})
    return {"couples": len(couples), "picks": n_picks, "share_by_category": share(categories),
            "share_by_pillar": share(pillars), "model_versions": sorted(versions), "runs": sorted(runs)}


_STAGING = ".staging"
_OUTPUTS = ("picks.csv", "picks.jsonl", "summary.json")


def _prepare_out(out_dir: Path, week: _dt.date, work: Path, fresh: bool) -> None:
    """Check ``out_dir`` holds ``week`` (or nothing yet); give ``work`` (``out_dir`` or its staging
    folder) ``parts/`` and ``emails/``, emptied first when ``fresh``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "week.json"
    if marker.exists():
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8")).get("week")
        except (OSError, json.JSONDecodeError):
            recorded = None
        if recorded != week.isoformat():
            raise NewsletterError(
                f"{out_dir} holds the newsletter of week {recorded}, not {week}; use another --out folder"
            )
    if fresh and work != out_dir:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(exist_ok=True)
    (work / "parts").mkdir(exist_ok=True)
    (work / "emails").mkdir(exist_ok=True)
    _atomic_write(marker, json.dumps({"week": week.isoformat()}) + "\n")


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Put a complete staged week in place of ``out_dir``'s: the old picks and summary go first, then
    the folders are exchanged, then the new picks and summary (last: it says the folder is complete).
    At no moment does ``out_dir`` hold the old run's picks or summary beside the new run's emails."""
    for name in _OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    trash = Path(tempfile.mkdtemp(dir=out_dir, prefix=".old-"))
    for name in ("emails", "parts"):
        if (out_dir / name).exists():
            os.replace(out_dir / name, trash / name)
        os.replace(stage / name, out_dir / name)
    for name in _OUTPUTS:
        os.replace(stage / name, out_dir / name)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
