"""Training runs and named locks (:class:`TrainingRepository`)."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
from typing import Any

import sqlalchemy as sa

from ._values import _dumps, _iso_instant, _loads, _utcnow
from .errors import ValidationError
from .tables import tbl_locks, tbl_training_runs

__all__ = ["TrainingRepository"]

logger = logging.getLogger(__name__)

_TRAINING_STATUSES = ("running", "succeeded", "failed")


def _pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists on this host (zombies count as dead)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


class TrainingRepository:
    """Training runs and locks (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- training runs

    def start_training_run(self, pid: int | None = None, host: str | None = None) -> int:
        """Record a training run as ``running`` and return its id (pid/host default: this process)."""
        with self._write() as conn:
            return int(conn.execute(tbl_training_runs.insert().values(
                started_at=_utcnow(), status="running", promoted=False,
                pid=os.getpid() if pid is None else int(pid),
                host=socket.gethostname() if host is None else host)).inserted_primary_key[0])

    def finish_training_run(self, run_id: int, status: str, version: str | None = None,
                            promoted: bool = False, metrics: dict[str, Any] | None = None,
                            error: str | None = None) -> bool:
        """Close a training run as ``succeeded`` or ``failed``; False if there is no such run."""
        if status not in _TRAINING_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(_TRAINING_STATUSES[1:])}, got {status!r}")
        with self._write() as conn:
            return bool(conn.execute(tbl_training_runs.update().where(tbl_training_runs.c.id == run_id).values(
                status=status, finished_at=_utcnow(), version=version, promoted=bool(promoted),
                metrics=None if metrics is None else _dumps(metrics),
                error=error)).rowcount)

    def training_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest training runs, newest first.

        Returns
        -------
        list of dict
            ``{"id", "started_at", "finished_at", "seconds", "status",
            "version", "promoted", "metrics", "error", "pid", "host"}``.
        """
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_training_runs).order_by(tbl_training_runs.c.id.desc())
                                .limit(int(limit))).all()
        return [{
            "id": int(row.id), "started_at": _iso_instant(row.started_at),
            "finished_at": _iso_instant(row.finished_at),
            "seconds": None if row.finished_at is None
            else round((row.finished_at - row.started_at).total_seconds(), 3),
            "status": row.status, "version": row.version, "promoted": bool(row.promoted),
            "metrics": None if row.metrics is None else _loads(row.metrics),
            "error": row.error, "pid": row.pid, "host": row.host,
        } for row in rows]

    def mark_stale_training_runs(self, timeout_s: float = 3600.0) -> int:
        """Fail ``running`` runs whose process is gone (this host) or that are too old.

        Parameters
        ----------
        timeout_s : float, default 3600
            A run still ``running`` after this many seconds is presumed dead,
            whatever its host.

        Returns
        -------
        int
            Runs marked ``failed`` (the reason goes in ``error``).
        """
        now = _utcnow()
        here = socket.gethostname()
        with self._read() as conn:
            running = conn.execute(sa.select(tbl_training_runs.c.id, tbl_training_runs.c.pid,
                                             tbl_training_runs.c.host, tbl_training_runs.c.started_at)
                                   .where(tbl_training_runs.c.status == "running")).all()
        marked = 0
        for row in running:
            age = (now - row.started_at).total_seconds()
            if row.host == here and not _pid_alive(row.pid):
                reason = f"training process {row.pid} on {here} is gone (killed or crashed)"
            elif age >= timeout_s:
                reason = f"still running after {age:.0f} s (timeout {timeout_s:.0f} s); presumed dead"
            else:
                continue
            with self._write() as conn:
                marked += conn.execute(tbl_training_runs.update().where(
                    tbl_training_runs.c.id == row.id, tbl_training_runs.c.status == "running")
                    .values(status="failed", finished_at=now, error=reason)).rowcount
            logger.warning("training run %s marked failed: %s", row.id, reason)
        return marked

    # ---------------------------------------------------------------- locks

    def try_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the named lock if it is free or expired; atomic across processes.

        Parameters
        ----------
        name : str
            Lock name, e.g. ``"training"``.
        owner : str
            Who holds it (e.g. ``"host:pid:uuid"``); the same owner may call
            again to extend its hold.
        ttl_s : float
            Seconds until the lock expires if not released or extended.

        Returns
        -------
        bool
            True if ``owner`` now holds the lock.
        """
        if ttl_s <= 0:
            raise ValidationError("ttl_s", f"must be a positive number of seconds, got {ttl_s!r}")
        now = _utcnow()
        expires = now + _dt.timedelta(seconds=float(ttl_s))
        with self._write() as conn:
            taken = conn.execute(tbl_locks.update().where(
                tbl_locks.c.name == name, sa.or_(tbl_locks.c.expires_at <= now, tbl_locks.c.owner == owner))
                .values(owner=owner, acquired_at=now, expires_at=expires)).rowcount
            if taken:
                return True
            insert = self._insert(tbl_locks)
            conn.execute(insert.values(name=name, owner=owner, acquired_at=now, expires_at=expires)
                         .on_conflict_do_nothing(index_elements=["name"]))
            # (the INSERT's rowcount is not reliable across drivers; read back the holder)
            holder = conn.execute(sa.select(tbl_locks.c.owner).where(tbl_locks.c.name == name)).scalar()
            return holder == owner

    def release_lock(self, name: str, owner: str) -> bool:
        """Release the lock if ``owner`` holds it; returns whether it did."""
        with self._write() as conn:
            return bool(conn.execute(tbl_locks.delete().where(tbl_locks.c.name == name,
                                                          tbl_locks.c.owner == owner)).rowcount)

    def release_dead_lock(self, name: str) -> bool:
        """Release lock ``name`` if its holder was a process on this host that no longer runs.

        Owners that want this must be named ``"<host>:<pid>[:<anything>]"``.
        Returns True when a lock was released.
        """
        holder = self.lock_holder(name)
        if holder is None:
            return False
        host, _, rest = str(holder["owner"]).partition(":")
        pid = rest.split(":", 1)[0]
        if host != socket.gethostname() or not pid.isdigit() or _pid_alive(int(pid)):
            return False
        return self.release_lock(name, holder["owner"])

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """``{"name", "owner", "acquired_at", "expires_at"}`` of an unexpired lock, else None."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_locks).where(tbl_locks.c.name == name,
                                                      tbl_locks.c.expires_at > _utcnow())).first()
        if row is None:
            return None
        return {"name": row.name, "owner": row.owner, "acquired_at": _iso_instant(row.acquired_at),
                "expires_at": _iso_instant(row.expires_at)}
