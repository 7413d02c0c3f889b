"""The import rules of docs/architecture.md, checked on every module of engine/ and service/.

Each ``.py`` file is parsed with :mod:`ast`; every import statement counts,
at any depth (inside functions and ``if TYPE_CHECKING:`` too), relative ones
resolved against the file's package. A broken rule fails with a sentence
naming the file, the line and the rule. The checker itself is tested on
synthetic module sources (known answers), so a checker that sees nothing
cannot pass.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import engine.app

ROOT = Path(__file__).resolve().parents[1]

#: every layer of the code base (``engine`` is the root package's lazy re-exports and ``__main__``)
LAYERS = frozenset({"config", "domain", "store", "ranking", "learning", "practice", "newsletter", "lab", "app",
                    "commands", "service", "engine"})
#: third-party web packages the engine must never import
_WEB = ("flask", "werkzeug", "gunicorn")


@dataclass(frozen=True)
class Rule:
    """One import rule: modules of ``sources`` never import the ``forbidden`` layers."""

    name: str
    sources: frozenset[str]
    forbidden: frozenset[str]
    text: str
    #: (file, imported module) pairs the rule allows, each with the reason in docs/architecture.md
    exceptions: dict[tuple[str, str], str] = field(default_factory=dict)


def _only(name: str, source: str, allowed: set[str], text: str, **kw) -> Rule:
    return Rule(name, frozenset({source}), frozenset(LAYERS - allowed - {source}), text, **kw)


RULES = [
    _only("config-is-a-leaf", "config", set(), "engine/config.py imports nothing from engine"),
    _only("domain-is-a-leaf", "domain", set(), "domain imports nothing from engine outside domain"),
    _only("store-below-domain", "store", {"domain", "config"},
          "store imports only domain (and engine.config for the default URL)"),
    _only("ranking-below-domain", "ranking", {"domain"}, "ranking imports only domain"),
    _only("learning-below-ranking", "learning", {"domain", "ranking", "lab"},
          "learning imports only domain and ranking"),
    Rule("learning-never-lab", frozenset({"learning"}), frozenset({"lab"}),
         "learning never imports lab (the research code sits above the model)"),
    _only("practice-below-learning", "practice", {"domain", "learning", "ranking"},
          "practice imports only domain, learning and ranking (never store, app, service)"),
    _only("newsletter-below-practice", "newsletter", {"domain", "learning", "ranking", "practice"},
          "newsletter imports only domain, learning, ranking and practice (never store, app, service)"),
    Rule("practice-newsletter-never-store", frozenset({"practice", "newsletter"}), frozenset({"store"}),
         "practice and newsletter never import store (they are handed one)"),
    _only("lab-below-app", "lab", {"domain", "learning", "ranking"},
          "lab imports only domain, learning and ranking (never store, app, service)",
          exceptions={("engine/lab/loop.py", "engine.app.training"):
                      "the closed loop retrains with the product's own training"}),
    _only("app-below-entry-points", "app", LAYERS - {"commands", "service", "engine"},
          "app imports every engine layer below it, never commands, service or the engine root"),
    _only("commands-through-facade", "commands", {"app", "domain", "config", "lab"},
          "engine/commands and engine/cli.py import only engine.app, engine.domain, engine.config "
          "(and engine.lab for the research commands)"),
    _only("service-through-facade", "service", {"app", "domain", "config"},
          "service imports only engine.app, engine.domain and engine.config"),
    Rule("engine-never-service", LAYERS - {"service"}, frozenset({"service"}),
         "engine never imports service"),
]


# --------------------------------------------------------------------------- the checker

@dataclass(frozen=True)
class Import:
    """One imported module (``names`` for ``from X import a, b``; empty for ``import X``)."""

    line: int
    module: str
    names: tuple[str, ...]


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted module name of a file below the repository root, and whether it is a package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name (None outside engine/ and service/)."""
    parts = module.split(".")
    if parts[0] == "service":
        return "service"
    if parts[0] != "engine":
        return None
    if len(parts) == 1 or parts[1] == "__main__":
        return "engine"
    if parts[1] in ("store", "store_practice"):
        return "store"
    if parts[1] in ("commands", "cli"):
        return "commands"
    return parts[1]


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool) -> list[Import]:
    """Every import in a module's source, at any depth, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            if target in ("engine", "service") or not node.module:  # `from engine import app`: submodules
                for name in names:
                    sub = f"{target}.{name}"
                    found.append(Import(node.lineno, sub, ()) if _is_module(sub)
                                 else Import(node.lineno, target, (name,)))
            else:
                found.append(Import(node.lineno, target, names))
    return found


def check_source(source: str, path: str) -> list[str]:
    """The rules a module's imports break, one sentence each (empty when it keeps them all).

    Parameters
    ----------
    source : str
        The module's text.
    path : str
        Its path from the repository root, e.g. ``"engine/learning/model.py"``.
    """
    module, is_package = module_name(ROOT / path)
    layer = layer_of(module)
    problems = []
    for imp in imports_of(source, module, is_package):
        where = f"{path}:{imp.line}"
        target = layer_of(imp.module)
        if layer != "service" and imp.module.split(".")[0] in _WEB:
            problems.append(f"{where}: imports {imp.module}, breaking 'engine-never-web': "
                            "the engine never imports Flask or another web package")
        if target is None or target == layer:
            continue
        for rule in RULES:
            if layer in rule.sources and target in rule.forbidden and (path, imp.module) not in rule.exceptions:
                problems.append(f"{where}: a {layer} module imports {imp.module} ({target}), breaking "
                                f"'{rule.name}': {rule.text}")
        problems += _facade_problems(where, layer, imp, target)
        private = [p for p in imp.module.split(".") + list(imp.names) if p.startswith("_") and not p.startswith("__")]
        if private:
            problems.append(f"{where}: imports the private name {private[0]!r} of {imp.module}, breaking "
                            "'no-private-names': other packages use only the names in a module's __all__")
    return problems


def _facade_problems(where: str, layer: str | None, imp: Import, target: str) -> list[str]:
    if layer not in ("service", "commands") or target != "app":
        return []
    if imp.module != "engine.app":
        return [f"{where}: imports {imp.module}, breaking 'facade-surface': {layer} imports the facade "
                f"as `from engine.app import ...`, never its modules"]
    return [f"{where}: imports {name!r} from engine.app, breaking 'facade-surface': it is not in "
            f"engine.app.__all__" for name in imp.names if name not in engine.app.__all__]


def _modules() -> list[Path]:
    return sorted(p for top in ("engine", "service") for p in (ROOT / top).rglob("*.py"))


@functools.lru_cache(maxsize=1)
def _all_problems() -> tuple[str, ...]:
    out = []
    for path in _modules():
        out += check_source(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    return tuple(out)


def _problems(rule_name: str) -> list[str]:
    return [p for p in _all_problems() if f"'{rule_name}'" in p]


# --------------------------------------------------------------------------- the rules on the code

@pytest.mark.parametrize("rule", [rule.name for rule in RULES])
def test_layer_rule_holds(rule):
    problems = _problems(rule)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", ["facade-surface", "no-private-names", "engine-never-web"])
def test_surface_rule_holds(rule):
    problems = _problems(rule)
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer():
    unplaced = [p.relative_to(ROOT).as_posix() for p in _modules() if layer_of(module_name(p)[0]) not in LAYERS]
    assert not unplaced, f"modules outside every layer of docs/architecture.md: {unplaced}"


def test_every_facade_name_resolves():
    missing = [name for name in engine.app.__all__ if getattr(engine.app, name, None) is None]
    assert not missing, f"engine.app.__all__ names that do not resolve: {missing}"


# --------------------------------------------------------------------------- known answers for the checker

def test_checker_catches_a_lower_layer_reaching_up_inside_a_function():
    source = "import numpy as np\n\n\ndef f():\n    from ..store import open_store\n    return open_store\n"
    assert check_source(source, "engine/learning/fake.py") == [
        "engine/learning/fake.py:5: a learning module imports engine.store (store), breaking "
        "'learning-below-ranking': learning imports only domain and ranking"]


def test_checker_catches_the_service_bypassing_the_facade():
    source = ("from engine.app import serve_tonight\n"
              "from engine.app.serving import check_date_input\n"
              "from engine.learning.registry import Registry\n"
              "from engine.app import _EXPORTS\n")
    problems = check_source(source, "service/fake.py")
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "4"]
    assert "breaking 'facade-surface'" in problems[0]
    assert "(learning), breaking 'service-through-facade'" in problems[1]
    assert "'_EXPORTS' from engine.app, breaking 'facade-surface'" in problems[2]
    assert "private name '_EXPORTS'" in problems[3]


def test_checker_resolves_relative_imports_and_root_submodules():
    source = "from .. import store\nfrom engine import lab\nfrom . import gate\n"
    problems = check_source(source, "engine/app/fake.py")
    assert problems == []  # app may import store and lab; gate is its own
    problems = check_source(source, "engine/domain/fake.py")
    assert [p.split(": ")[1].split(",")[0] for p in problems] == [
        "a domain module imports engine.store (store)", "a domain module imports engine.lab (lab)"]


def test_checker_catches_flask_in_the_engine_and_honours_exceptions():
    assert "'engine-never-web'" in check_source("from flask import g\n", "engine/app/fake.py")[0]
    assert check_source("from flask import g\n", "service/fake.py") == []
    assert check_source("from ..app.training import train_and_maybe_promote\n", "engine/lab/loop.py") == []
    assert check_source("from ..app.training import train_and_maybe_promote\n", "engine/lab/other.py")


def test_the_store_has_every_method_the_facade_needs():
    from engine.app import Store, StorePort

    needed = sorted(name for name in vars(StorePort) if not name.startswith("_"))
    assert len(needed) >= 10 and "tonight_reads" in needed
    assert [name for name in needed if not callable(getattr(Store, name, None))] == []


def test_a_fitted_model_is_the_ranker_the_facade_needs(tiny_model_dir):
    """:class:`engine.app.Ranker` names what the facade reads of a model; the model has all of it."""
    from engine.app import Ranker
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry

    model = Registry(tiny_model_dir).load()[0]
    assert isinstance(model, Ranker)
    assert not isinstance(EnjoymentModel(), Ranker)  # unfitted: no catalog_, featurizer_, ...
    needed = [n for n in vars(Ranker) if not n.startswith("_")] + list(Ranker.__annotations__)
    assert {"rank", "enjoyment", "idea_titles", "catalog_", "idea_similarity_"} <= set(needed)
