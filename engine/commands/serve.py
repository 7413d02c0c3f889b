"""``dateideas serve``: the HTTP service under gunicorn."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shlex
import socket
import sys
import tempfile
from urllib.parse import urlencode

import click

from ._extras import require_extra

__all__ = ["serve"]

#: tonight's request of the printed curl lines (and of the idea the printed POST rates)
_DEMO_QUERY = {"budget": "2", "setting": "out", "weather": "rain"}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="gunicorn worker processes (each loads the model).")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Threads per worker. One: the threads of a worker share one interpreter lock, and a "
                   "client flooding one worker with cheap requests starved its other thread for seconds "
                   "(docs/service.md, 'another under abuse'); for a database far away, add workers.")
@click.option("--demo", is_flag=True,
              help="On an empty database, add simulated couples and train the first model "
                   "(like `init --demo`); print curl lines with a demo couple's token.")
def serve(host: str, port: int, workers: int, threads: int, demo: bool) -> None:
    """Serve the API with gunicorn (database and models from the environment)."""
    require_extra("server", ("flask", "gunicorn", "prometheus_client", "flask_limiter"), "dateideas serve")
    from ..app import Registry, StoreError, open_store
    from ..config import settings_from_env

    _check_port_free(host, port)
    settings = settings_from_env()
    env = dict(os.environ, DATEIDEAS_DATABASE_URL=settings.database_url,
               DATEIDEAS_MODEL_DIR=str(settings.model_dir))
    store = open_store(settings.database_url)
    try:
        store.migrate()
        couple = _demo_couple(store, settings) if demo else None
        idea = _first_idea(store, settings, couple[0]) if couple is not None else None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    generated_admin = None
    if demo and not settings.admin_token:
        generated_admin = env["DATEIDEAS_ADMIN_TOKEN"] = secrets.token_urlsafe(24)
    live = Registry(settings.model_dir).live_version()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    per_worker = "1 thread" if threads == 1 else f"{threads} threads"
    click.echo(f"dateideas on {base}  ({workers} workers x {per_worker}; database {store.url}; "
               f"model {live or 'none yet: /readyz answers 503 until `dateideas train`'})")
    if couple is not None:
        _print_curl(base, *couple, idea, generated_admin, metrics=not env.get("DATEIDEAS_METRICS_TOKEN"))
    # numerical libraries: one thread per worker thread, or a small request pays thread start-up costs
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dateideas-metrics-")
        env["DATEIDEAS_METRICS_DIR_OWNED"] = "1"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf",
            "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads),
            "service:create_app()"]
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


def _check_port_free(host: str, port: int) -> None:
    """Fail at once, naming the way out, when ``host:port`` is taken (before any demo is built)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like gunicorn: TIME_WAIT is no clash
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                other = port + 1 if port < 65535 else port - 1
                raise click.ClickException(
                    f"port {port} is in use; run make demo PORT={other} (or dateideas serve --port {other})"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); pick another "
                                       "address with make demo HOST=... (or dateideas serve --host)") from None


def _demo_couple(store, settings) -> tuple[str, str] | None:
    """Build the demo on an empty database; return (couple id, fresh token) of a demo couple."""
    if store.is_empty():
        from ..app import build_demo

        click.echo("empty database: adding demo couples and training the first model ...")
        result = build_demo(store, settings)
        return result.couple_id, result.token
    for couple_id in store.couple_ids():
        couple = store.get_couple(couple_id)
        if couple and couple["source"] == "demo":
            return couple_id, store.rotate_token(couple_id)
    return None


def _first_idea(store, settings, couple_id: str) -> str | None:
    """Tonight's first suggestion for the printed request (served and logged as the service would,
    so the printed tonight line answers the same list); None without a live model."""
    from ..app import ArtifactError, NoModelError, Recommender, serve_tonight
    from ..domain.context import parse_context

    try:
        recommender = Recommender.load(settings.model_dir)
    except (NoModelError, ArtifactError):
        return None
    context, _ = parse_context(_DEMO_QUERY)
    served = serve_tonight(store, recommender, couple_id, context)
    return served.suggestions[0].idea_id if served.suggestions else None


def _print_curl(base: str, couple_id: str, token: str, idea_id: str | None, admin_token: str | None,
                metrics: bool = True) -> None:
    """One runnable command per line: each runs as printed (tests/test_cli_serve.py runs them)."""
    auth = shlex.quote(f"Authorization: Bearer {token}")
    tonight = f"{base}/v1/couples/{couple_id}/tonight?{urlencode(_DEMO_QUERY)}"
    click.echo(f"demo couple {couple_id} (new token below; earlier tokens of this couple no longer work):")
    click.echo(f"  curl -H {auth} {shlex.quote(tonight)}")
    click.echo(f"  curl -H {auth} {shlex.quote(tonight + '&another=1')}")
    if idea_id is not None:
        body = shlex.quote(json.dumps({"idea_id": idea_id, "ratings": {"a": 5, "b": 4}}))
        click.echo(f"  curl -X POST -H {auth} -H 'Content-Type: application/json' -d {body} "
                   f"{shlex.quote(base + f'/v1/couples/{couple_id}/dates')}")
    click.echo(f"  curl {shlex.quote(base + '/v1/ideas?limit=5')}")
    click.echo(f"  curl {shlex.quote(base + '/readyz')}")
    if metrics:
        click.echo(f"  curl {shlex.quote(base + '/metrics')}")
    if admin_token:
        admin = shlex.quote(f"Authorization: Bearer {admin_token}")
        click.echo(f"  curl -H {admin} {shlex.quote(base + '/v1/admin/models')}")
        click.echo("(the last line's admin token is for this run only)")
    click.echo(f"web page for couples: {base}/  (sign in with the couple id and token above)")
