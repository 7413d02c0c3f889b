"""What the evaluation benches (``bounds``, ``partners``) share: their options and how a result is written and shown.

Both run on simulated couples with the evaluation's seeded splits, write
their result as JSON to ``--out`` and print it (``--json``) or a table of
the models' metrics.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

__all__ = ["parser", "write_and_show"]


def parser(doc: str, out: Path, *, seeds: int) -> argparse.ArgumentParser:
    """The options ``--couples`` (simulated, default 2000), ``--seeds``, ``--json`` and ``--out`` (default ``out``).

    ``doc`` is the bench's module docstring; its first line describes the command.
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--couples", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=seeds)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--out", type=Path, default=out, help="where to write the result (JSON)")
    return ap


def write_and_show(result: dict, args: argparse.Namespace, heading: str, shown: Sequence[str], digits: int) -> None:
    """Write ``result`` to ``args.out``; print it as JSON (``args.json``) or ``heading`` and a table.

    The table has one row per model of ``result["models"]`` and a column per
    metric in ``shown``, each with ``digits`` decimals.
    """
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(heading)
    print("| model | " + " | ".join(shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for name, metrics in result["models"].items():
        print(f"| {name} | " + " | ".join(f"{metrics[m]:.{digits}f}" for m in shown) + " |")
