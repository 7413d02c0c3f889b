"""Spreadsheet-safe CSV exports: the one place a text cell is neutralised against formula injection.

A CSV opened in a spreadsheet runs a cell starting with ``=``, ``+``, ``-``
or ``@`` (or a tab or carriage return, which some spreadsheets skip before
such a character) as a formula: a couple id or an idea title like
``=HYPERLINK("http://evil", "click")`` in ``picks.csv`` would. As OWASP
recommends (CSV Injection), every *text* cell that starts with one of those
characters gets a single quote in front, which spreadsheets show as "this is
text". A text cell that already starts with a single quote gets one more, so
the rule is reversible: :func:`restore_cell` takes exactly one leading quote
off whatever :func:`neutralise_cell` wrote, and the project's own readers of
its exports get the values back exactly. Numeric columns (numbers as pandas
writes them, e.g. ``-0.25``) are values, not formulas, and are left alone.

Which files are exports and which are data (docs/newsletter.md says the same):

* Exports, neutralised here: the newsletter's ``picks.csv`` (and the part
  files it is concatenated from).
* Data, not neutralised: the import format (``simulate --out``, ``convert``,
  ``import``, ``evaluate --data``): ids there must round-trip exactly and
  those files are read by this project, not opened as spreadsheets.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise_cell", "neutralise_frame", "restore_cell", "restore_frame"]

#: first characters a spreadsheet may read as the start of a formula (OWASP)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = FORMULA_STARTS + ("'",)


def neutralise_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is a string starting with a formula character or a quote."""
    if isinstance(value, str) and value.startswith(_QUOTED):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """The value :func:`neutralise_cell` was given: one leading ``'`` taken off (strings only)."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell neutralised (:func:`neutralise_cell`); for ``to_csv``."""
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(neutralise_cell)
    return out


def restore_frame(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """``frame`` (read back from a neutralised CSV) with ``columns`` (default: every text column) restored."""
    for column in _text_columns(frame) if columns is None else columns:
        frame[column] = frame[column].map(restore_cell)
    return frame
