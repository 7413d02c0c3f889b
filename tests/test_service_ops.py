"""Issue 16 items 9 and 10: /metrics through a database outage and behind a token; headers on every response."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.store import open_store
from service import create_app


def _metric(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_answer_from_what_they_know_while_the_database_is_down(pg_url, model_dir):
    store = open_store(pg_url)
    store.migrate()
    run = store.start_training_run()
    store.finish_training_run(run, "succeeded", version="v1", promoted=True)
    store.close()
    app = create_app({"DATABASE_URL": pg_url, "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False})
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        up = client.get("/metrics")
        assert up.status_code == 200 and _metric(up.get_data(as_text=True), "dateideas_database_up") == 1
        admin = sa.create_engine(sa.make_url(pg_url).set(database="test"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # the database goes away under the running app
            conn.execute(sa.text(f'DROP DATABASE "{sa.make_url(pg_url).database}" WITH (FORCE)'))
        admin.dispose()
        assert client.get("/readyz").status_code == 503
        down = client.get("/metrics")
        assert down.status_code == 200, down.get_data(as_text=True)
        text = down.get_data(as_text=True)
        assert _metric(text, "dateideas_database_up") == 0
        assert 'dateideas_training_runs{status="succeeded"} 1.0' in text  # the last figures read
        assert 'dateideas_http_requests_total{method="GET",route="/readyz",status="503"} 1.0' in text
        assert "dateideas_model_live_info{version=" in text
    finally:
        app.extensions["dateideas.store"].close()


def test_a_metrics_token_protects_metrics(monkeypatch, tmp_path, model_dir):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("DATEIDEAS_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("DATEIDEAS_METRICS_TOKEN", "scrape-me")
    open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}").migrate()
    app = create_app()
    client = app.test_client()
    try:
        missing = client.get("/metrics")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert "DATEIDEAS_METRICS_TOKEN" in missing.get_json()["error"]["message"]
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
        scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200 and "dateideas_http_requests_total" in scraped.get_data(as_text=True)
    finally:
        app.extensions["dateideas.store"].close()


def test_metrics_are_open_without_a_token(client):
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/healthz"), ("GET", "/v1/ideas?limit=1"), ("GET", "/nope"),
                                          ("GET", "/v1/couples/c_x/tonight"), ("GET", "/metrics"),
                                          ("GET", "/openapi.json"), ("GET", "/signin"), ("POST", "/v1/couples"),
                                          ("PUT", "/healthz")])
def test_every_response_says_nosniff(client, method, path):
    assert client.open(path, method=method).headers["X-Content-Type-Options"] == "nosniff"


def test_a_new_couples_token_is_never_cached(client):
    made = client.post("/v1/couples")
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/v1/ideas?limit=1").headers.get("Cache-Control", "")
