"""``python -m bench SUBCOMMAND [options]``: run one benchmark.

Subcommands: ``peers``, ``bounds``, ``partners``, ``simulate``, ``scoring``, ``newsletter``, ``http``,
``service_cpu``, ``spread``, ``soak``, ``abuse``, ``pillars``, ``catalog``, ``writes``
(each is the module ``bench/<name>.py`` and its ``main``; one whose module
is absent is reported as unknown). ``python -m bench SUBCOMMAND --help``
shows its options.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS = ("peers", "bounds", "partners", "simulate", "scoring", "newsletter", "http", "service_cpu",
               "spread", "soak", "abuse", "pillars", "catalog", "writes")


def _available() -> list[str]:
    return [name for name in SUBCOMMANDS if importlib.util.find_spec(f"bench.{name}") is not None]


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to ``bench.<argv[0]>.main(argv[1:])``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    usage = f"usage: python -m bench {{{','.join(available)}}} [options]"
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__.split("\n\n")[0] + "\n" + usage + "\n")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in available:
        sys.stderr.write(f"unknown benchmark {name!r}; choose one of {', '.join(available)}\n{usage}\n")
        return 2
    entry = importlib.import_module(f"bench.{name}").main
    if inspect.signature(entry).parameters:
        entry(rest)
    else:  # a main() that reads sys.argv itself
        saved = sys.argv
        sys.argv = [f"python -m bench {name}", *rest]
        try:
            entry()
        finally:
            sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
