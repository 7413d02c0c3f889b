"""The model registry: one folder per trained version, a live pointer, rollback.

Layout under the model directory::

    models/
      20261128-101500-ab12/       one version
        model.joblib              the fitted EnjoymentModel
        card.json                 created, data size, metrics, library versions,
                                  feature names, catalog fingerprint, sha256 of the artifact
      LIVE                        the live version's name (replaced atomically)
      PINNED                      the pinned version's name, if any (a rollback pins)
      HISTORY                     one promoted version per line, oldest first

A pinned version stays live: training still saves and judges candidates
but does not promote them until ``dateideas models promote VERSION`` or
``dateideas models unpin``. :meth:`Registry.prune` keeps the live, the
pinned, the rollback target and the newest ``keep`` versions and removes the
rest (each folder renamed away atomically first, so no reader sees half of one).

A version whose card does not match this installation (library versions,
feature names, catalog, an artifact format newer than this code reads:
``artifact_format``) or whose artifact does not match its checksum is
refused with :class:`ArtifactError`, and the live pointer is left alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy
import sklearn

from ..domain.catalog import Catalog
from ..domain.files import atomic_write as _atomic_write
from .artifact_state import ARTIFACT_FORMAT
from .features import FEATURE_NAMES

__all__ = ["ArtifactError", "NoModelError", "Registry", "catalog_fingerprint"]

logger = logging.getLogger(__name__)

_ARTIFACT = "model.joblib"
_CARD = "card.json"
_PINNED = "PINNED"
#: leftovers of interrupted saves or prunes older than this are removed by prune()
_STALE_TMP_S = 3600.0


class NoModelError(LookupError):
    """No model has been promoted yet (run ``dateideas train`` or ``init --demo``)."""


class ArtifactError(RuntimeError):
    """A model artifact is corrupt or does not match this installation."""


def _auto_settings(model) -> dict[str, Any]:
    """What each ``"auto"`` parameter of ``model`` stood for on its training data (the card's ``auto``)."""
    resolved = {"learner": "learner_name_", "negatives": "negatives_", "popular_negatives": "popular_negatives_",
                "factor_alpha": "factor_alpha_"}
    out = {name: _jsonable(getattr(model, attr)) for name, attr in resolved.items()
           if model.get_params().get(name) == "auto" and hasattr(model, attr)}
    if model.get_params().get("breadth") == "auto" and hasattr(model, "popular_share_"):
        out["breadth"] = model.ranking_policy().breadth
    return out


def _versions_of_libraries() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def catalog_fingerprint(catalog: Catalog) -> str:
    """A short hash of the catalog's ids and schema (changes when ideas are added or removed)."""
    h = hashlib.sha256()
    h.update(json.dumps(catalog.schema.to_dict(), sort_keys=True).encode())
    h.update("\n".join(map(str, catalog.ids)).encode())
    return h.hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Registry:
    """Trained model versions in a folder.

    Parameters
    ----------
    model_dir : str or Path
        The registry folder (created on first save).
    """

    def __init__(self, model_dir: str | Path):
        self.model_dir = Path(model_dir)

    # ---------------------------------------------------------------- reads
    def _folders(self) -> list[Path]:
        """Version folders, oldest first (names start with their UTC creation time); never the
        hidden ``.tmp-``/``.trash-`` folders of a save or prune in progress."""
        if not self.model_dir.is_dir():
            return []
        found = []
        for p in self.model_dir.iterdir():
            if p.name.startswith("."):
                continue
            try:  # (creation second, then when the card was written: versions of the same second in order)
                found.append(((p.name[:15], (p / _CARD).stat().st_mtime_ns, p.name), p))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return [p for _, p in sorted(found)]

    def versions(self) -> list[dict[str, Any]]:
        """Every version's card (oldest first), with ``live`` and ``pinned`` marked."""
        live, pinned = self.live_version(), self.pinned_version()
        out = []
        for folder in self._folders():
            try:
                card = json.loads((folder / _CARD).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                card = {"version": folder.name, "error": "unreadable card"}
            card["live"] = folder.name == live
            card["pinned"] = folder.name == pinned
            out.append(card)
        return out

    def _pointer(self, name: str) -> str | None:
        try:
            value = (self.model_dir / name).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def live_version(self) -> str | None:
        """Name of the live version, or None."""
        return self._pointer("LIVE")

    def live_pointer_identity(self) -> tuple[int, int, int] | None:
        """The live pointer file's identity ``(inode, mtime_ns, size)``, or None when there is none.

        ``promote`` and ``rollback`` replace the pointer atomically, so an
        unchanged identity means an unchanged live version: a watcher compares
        identities (one ``stat``) instead of reading the pointer each time.
        """
        try:
            st = os.stat(self.model_dir / "LIVE")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def pinned_version(self) -> str | None:
        """Name of the pinned version (kept live until promoted past or unpinned), or None."""
        return self._pointer(_PINNED)

    def card(self, version: str) -> dict[str, Any]:
        """The card of ``version``; ``ArtifactError`` if missing or unreadable."""
        path = self.model_dir / version / _CARD
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArtifactError(f"model version {version!r} not found in {self.model_dir}") from None
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"model card {path} is not valid JSON ({exc}); retrain with `dateideas train`") from exc

    def load(self, version: str | None = None, catalog: Catalog | None = None):
        """Load a version (default: the live one) after checking its card.

        Returns
        -------
        model : EnjoymentModel
        card : dict

        Raises
        ------
        NoModelError
            If no version is live.
        ArtifactError
            If the artifact is corrupt or does not match this installation or catalog.
        """
        version = version or self.live_version()
        if version is None:
            raise NoModelError(
                f"no live model in {self.model_dir}; run `dateideas train` (or `dateideas init --demo`)"
            )
        card = self.card(version)
        path = self.model_dir / version / _ARTIFACT
        if not path.is_file():
            raise ArtifactError(f"model {version}: artifact {path} is missing; promote another version")
        if card.get("sha256") and _sha256(path) != card["sha256"]:
            raise ArtifactError(
                f"model {version}: {path} does not match the checksum in its card (corrupt or replaced); "
                "roll back with `dateideas models rollback` or retrain"
            )
        saved_as = card.get("artifact_format", 1)
        if not isinstance(saved_as, int) or saved_as > ARTIFACT_FORMAT:
            raise ArtifactError(
                f"model {version} was saved in artifact format {saved_as} by a newer version of dateideas; "
                f"this code reads formats 1 to {ARTIFACT_FORMAT}: promote a model trained by this code "
                "(`dateideas models list`), retrain with `dateideas train`, or upgrade the code"
            )
        ours = _versions_of_libraries()
        theirs = card.get("libraries", {})
        for lib in ("scikit-learn",):
            if _major_minor(theirs.get(lib)) != _major_minor(ours[lib]):
                raise ArtifactError(
                    f"model {version} was trained with {lib} {theirs.get(lib)}, this installation has "
                    f"{ours[lib]}; retrain with `dateideas train`"
                )
        names = card.get("feature_names") or []
        if names[:len(FEATURE_NAMES)] != list(FEATURE_NAMES):
            raise ArtifactError(
                f"model {version} was trained on different features than this code computes; "
                "retrain with `dateideas train`"
            )
        if catalog is not None and card.get("catalog") != catalog_fingerprint(catalog):
            raise ArtifactError(
                f"model {version} was trained on a different catalog (fingerprint {card.get('catalog')}, "
                f"now {catalog_fingerprint(catalog)}); retrain with `dateideas train`"
            )
        try:
            model = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad artifact
            raise ArtifactError(f"model {version}: cannot load {path} ({exc}); retrain or roll back") from exc
        if catalog is not None and hasattr(model, "catalog_"):
            # the same ideas (the fingerprint matched): one copy in memory, not the artifact's too
            # (118 MiB of titles and tags at 50,000 ideas), and its ids the featurizer's
            model.catalog_ = catalog
            if hasattr(model, "featurizer_"):
                try:
                    model.featurizer_.share_ids(catalog.ids)
                except ValueError as exc:  # the fingerprint's hash matched different ids
                    raise ArtifactError(f"model {version}: {exc}; retrain with `dateideas train`") from exc
        return model, card

    # --------------------------------------------------------------- writes
    def save(self, model, *, metrics: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None, gate: dict[str, Any] | None = None) -> str:
        """Write a new version (not live yet) and return its name.

        ``gate`` (the promotion gate's checks and verdict, :mod:`engine.app.gate`)
        is recorded in the card as it is.
        """
        self.model_dir.mkdir(parents=True, exist_ok=True)
        now = _dt.datetime.now(_dt.UTC)
        version = now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
        tmp = Path(tempfile.mkdtemp(dir=self.model_dir, prefix=".tmp-"))
        artifact = tmp / _ARTIFACT
        joblib.dump(model, artifact, compress=3)
        card = {
            "version": version,
            "created": now.isoformat(timespec="seconds"),
            "data": data or {},
            "metrics": metrics or {},
            **({"gate": gate} if gate is not None else {}),
            "params": {k: _jsonable(v) for k, v in model.get_params().items()},
            "libraries": _versions_of_libraries(),
            "artifact_format": ARTIFACT_FORMAT,
            "feature_names": list(model.feature_names_),
            # False: the catalog had no encodable attributes and the model ranks from collaborative signals alone
            "content_features": bool(getattr(model, "content_features_", True)),
            "auto": _auto_settings(model),
            "catalog": catalog_fingerprint(model.catalog_),
            "sha256": _sha256(artifact),
        }
        (tmp / _CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
        os.replace(tmp, self.model_dir / version)
        logger.info("saved model version %s", version)
        return version

    def promote(self, version: str, catalog: Catalog | None = None) -> None:
        """Make ``version`` live after checking it loads (the pin, if any, is left as it is)."""
        self.load(version, catalog=catalog)
        _atomic_write(self.model_dir / "LIVE", version + "\n")
        with (self.model_dir / "HISTORY").open("a", encoding="utf-8") as fh:
            fh.write(version + "\n")
        logger.info("promoted model version %s", version)

    def pin(self, version: str | None = None) -> str:
        """Pin ``version`` (default: the live one): trainings save candidates but do not promote them.

        Returns the pinned version; ``NoModelError`` when nothing is live and
        no version is named, ``ArtifactError`` for an unknown version.
        """
        version = version or self.live_version()
        if version is None:
            raise NoModelError(f"no live model in {self.model_dir} to pin; name a version")
        self.card(version)  # it must exist
        _atomic_write(self.model_dir / _PINNED, version + "\n")
        logger.info("pinned model version %s", version)
        return version

    def unpin(self) -> str | None:
        """Remove the pin; returns the version that was pinned (None if none was)."""
        pinned = self.pinned_version()
        try:
            os.remove(self.model_dir / _PINNED)
        except FileNotFoundError:
            return None
        logger.info("unpinned model version %s", pinned)
        return pinned

    def rollback(self, catalog: Catalog | None = None) -> str:
        """Make the previously promoted version live again and pin it; returns its name.

        The pin keeps the next background training from promoting past the
        rollback (``dateideas models promote VERSION`` or ``models unpin``
        lifts it). Promoted versions whose folder is gone (pruned) are skipped.
        """
        previous = self.rollback_target()
        if previous is None:
            raise NoModelError("nothing to roll back to: no earlier promoted version")
        self.load(previous, catalog=catalog)
        _atomic_write(self.model_dir / "LIVE", previous + "\n")
        self.pin(previous)
        # drop the rolled-back entries so a second rollback goes further back
        kept = self._history()
        while kept and kept[-1] != previous:
            kept.pop()
        _atomic_write(self.model_dir / "HISTORY", "".join(v + "\n" for v in kept))
        return previous

    def rollback_target(self) -> str | None:
        """The version :meth:`rollback` would make live: the latest promoted one before the live
        one whose folder still exists; None if there is none."""
        history = self._history()
        live = self.live_version()
        while history and history[-1] == live:
            history.pop()
        while history and not (self.model_dir / history[-1] / _CARD).is_file():
            history.pop()
        return history[-1] if history else None

    def prune(self, keep: int) -> list[str]:
        """Remove old versions: keep the live, the pinned, the rollback target and the newest ``keep``.

        Each removed folder is first renamed (atomically) to a hidden
        ``.trash-`` name, so no reader ever lists or loads half a version, then
        deleted. The live and pinned pointers are read again just before each
        removal, so a version promoted or pinned meanwhile is never removed.
        Leftover ``.tmp-``/``.trash-`` folders older than an hour (an
        interrupted save or prune) are deleted too.

        Parameters
        ----------
        keep : int >= 0
            Newest versions kept besides the protected ones.

        Returns
        -------
        list of str
            The versions removed, oldest first.
        """
        if isinstance(keep, bool) or int(keep) != keep or keep < 0:
            raise ValueError(f"keep must be a whole number >= 0, got {keep!r}")
        folders = self._folders()
        newest = {p.name for p in folders[len(folders) - int(keep):]} if keep else set()
        removed = []
        for folder in folders:
            protected = {self.live_version(), self.pinned_version(), self.rollback_target()}
            if folder.name in newest or folder.name in protected:
                continue
            trash = self.model_dir / f".trash-{folder.name}-{secrets.token_hex(3)}"
            try:
                os.replace(folder, trash)
            except FileNotFoundError:  # another process pruned it first
                continue
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(folder.name)
        self._remove_stale_leftovers()
        if removed:
            logger.info("pruned %d model version(s): %s", len(removed), ", ".join(removed))
        return removed

    def _remove_stale_leftovers(self) -> None:
        cutoff = time.time() - _STALE_TMP_S
        for path in self.model_dir.glob(".t*-*"):
            if path.is_dir() and path.name.startswith((".tmp-", ".trash-")):
                try:
                    if path.stat().st_mtime < cutoff:
                        shutil.rmtree(path, ignore_errors=True)
                except FileNotFoundError:
                    pass

    def _history(self) -> list[str]:
        try:
            text = (self.model_dir / "HISTORY").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]


def _major_minor(version: str | None) -> tuple[str, ...] | None:
    return tuple(version.split(".")[:2]) if version else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)
