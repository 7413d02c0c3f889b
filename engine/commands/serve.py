"""``dateideas serve``: the HTTP service under gunicorn."""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import tempfile

import click

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="gunicorn worker processes (each loads the model).")
@click.option("--threads", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads per worker (requests are mostly CPU-bound: on 2 cores, 2 threads served "
                   "tonight faster and with a lower p99 than 4; docs/service.md).")
@click.option("--demo", is_flag=True,
              help="On an empty database, add simulated couples and train the first model "
                   "(like `init --demo`); print curl lines with a demo couple's token.")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Serve the API with gunicorn (database and models from the environment)."""
    from ..config import settings_from_env
    from ..registry import Registry
    from ..store import StoreError, open_store

    settings = settings_from_env()
    env = dict(os.environ, DATEIDEAS_DATABASE_URL=settings.database_url,
               DATEIDEAS_MODEL_DIR=str(settings.model_dir))
    store = open_store(settings.database_url)
    try:
        store.migrate()
        couple = _demo_couple(store, settings) if demo else None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    generated_admin = None
    if demo and not settings.admin_token:
        generated_admin = env["DATEIDEAS_ADMIN_TOKEN"] = secrets.token_urlsafe(24)
    live = Registry(settings.model_dir).live_version()
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    click.echo(f"dateideas on {base}  ({workers} workers x {threads} threads; database {store.url}; "
               f"model {live or 'none yet: /readyz answers 503 until `dateideas train`'})")
    if couple is not None:
        _print_curl(base, *couple, generated_admin)
    # numerical libraries: one thread per worker thread, or a small request pays thread start-up costs
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dateideas-metrics-")
        env["DATEIDEAS_METRICS_DIR_OWNED"] = "1"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf",
            "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", str(threads),
            "service:create_app()"]
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


def _demo_couple(store, settings) -> tuple[str, str] | None:
    """Build the demo on an empty database; return (couple id, fresh token) of a demo couple."""
    if store.is_empty():
        from ..demo import build_demo

        click.echo("empty database: adding demo couples and training the first model ...")
        result = build_demo(store, settings)
        return result.couple_id, result.token
    for couple_id in store.couple_ids():
        couple = store.get_couple(couple_id)
        if couple and couple["source"] == "demo":
            return couple_id, store.rotate_token(couple_id)
    return None


def _print_curl(base: str, couple_id: str, token: str, admin_token: str | None) -> None:
    auth = shlex.quote(f"Authorization: Bearer {token}")
    click.echo(f"demo couple {couple_id} (new token below; earlier tokens of this couple no longer work):")
    click.echo(f"  curl -H {auth} '{base}/v1/couples/{couple_id}/tonight?budget=2&setting=out&weather=rain'")
    click.echo(f"  curl -H {auth} '{base}/v1/couples/{couple_id}/tonight?budget=2&setting=out&weather=rain&another=1'")
    body = shlex.quote('{"idea_id": "IDEA_ID", "ratings": {"a": 5, "b": 4}}')
    click.echo(f"  curl -X POST -H {auth} -H 'Content-Type: application/json' -d {body} "
               f"'{base}/v1/couples/{couple_id}/dates'")
    click.echo(f"  curl '{base}/v1/ideas?limit=5'    curl '{base}/readyz'    curl '{base}/metrics'")
    if admin_token:
        admin = shlex.quote(f"Authorization: Bearer {admin_token}")
        click.echo(f"  curl -H {admin} '{base}/v1/admin/models'   (admin token for this run)")
