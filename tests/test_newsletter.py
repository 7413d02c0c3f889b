"""Tests for engine.newsletter and ``dateideas newsletter``."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engine.app.recommender import Recommender
from engine.cli import main
from engine.commands.importing import couple_records
from engine.domain.catalog import load_catalog
from engine.domain.profiles import from_couples
from engine.lab.simulator import simulate
from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry
from engine.newsletter import (
    AlreadySentError,
    NewsletterBusyError,
    NewsletterError,
    plan_picks,
    recently_done,
    render_email,
    run_newsletter,
    week_context,
    week_start,
)
from engine.newsletter.planning import pick_records
from engine.store import open_store

_REPO = Path(__file__).resolve().parents[1]
_CATEGORIES = ("food-and-drink", "outdoors", "sport-and-movement", "arts-and-crafts", "culture",
               "music-and-dance", "learning", "games-and-play", "wellness", "romance")
_PILLARS = ("vulnerability", "appreciation", "physical-intimacy", "novelty")
_N_COUPLES = 90
_CHUNK = 25


def _write_catalog(folder: Path, n_ideas: int = 40, seed: int = 0) -> Path:
    """A catalog in the shipped schema: n ideas over 10 categories, all seasons, evenings."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_ideas):
        rows.append({
            "id": f"idea-{i:03d}", "title": f"Idea {i} & <friends>", "description": f"Do thing {i} together.",
            "category": _CATEGORIES[i % len(_CATEGORIES)], "cost": int(rng.integers(0, 4)),
            "duration_min": int(rng.choice([30, 60, 120, 180])), "setting": str(rng.choice(["home", "out"])),
            "weather_dependent": "false", "seasons": "spring|summer|autumn|winter",
            "time_of_day": "evening|night", "energy": int(rng.integers(1, 4)),
            "interactivity": str(rng.choice(["interactive", "side-by-side", "passive"])),
            "company": "just-us", "kid_friendly": "true", "accessibility": "", "planning": "spontaneous",
            "pillars": "|".join(sorted(set(rng.choice(_PILLARS, size=2)))),
            "novelty": int(rng.integers(1, 6)), "tags": "test",
        })
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "ideas.csv", index=False)
    shutil.copy(_REPO / "data" / "schema.json", folder / "schema.json")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A catalog, a simulated world, a live model in a registry, and the week to send."""
    root = tmp_path_factory.mktemp("newsletter")
    catalog_dir = _write_catalog(root / "catalog")
    catalog = load_catalog(catalog_dir)
    sim = simulate(_N_COUPLES, seed=5, catalog=catalog)
    model = EnjoymentModel(max_iter=30).fit(sim.dates, catalog, from_couples(sim.couples))
    registry = Registry(root / "models")
    registry.promote(registry.save(model), catalog=catalog)
    week = week_start((sim.dates["done_on"].max() + pd.Timedelta(days=10)).date())
    return {"root": root, "catalog_dir": catalog_dir, "catalog": catalog, "sim": sim,
            "model_dir": root / "models", "week": week,
            "recommender": Recommender.load(root / "models", catalog=catalog)}


def _store(url: str, world):
    store = open_store(url)
    store.migrate()
    records, problems, _ = couple_records(world["sim"].couples)
    assert not problems
    store.bulk_load(records, world["sim"].dates)
    return store


@pytest.fixture
def store(sqlite_url, world):
    opened = _store(sqlite_url, world)
    yield opened
    opened.close()


def _run(store, world, out, **kwargs):
    kwargs.setdefault("chunk_size", _CHUNK)
    kwargs.setdefault("progress", False)
    return run_newsletter(store, world["recommender"], world["week"], out, **kwargs)


def _picks(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "picks.csv", dtype={"couple_id": str, "idea_id": str}, keep_default_na=False)


def _sent_rows(store, week) -> pd.DataFrame:
    with store._read() as conn:  # noqa: SLF001 - the test inspects the table directly
        rows = conn.exec_driver_sql("SELECT couple_id, idea_id, rank FROM newsletter_sends").all()
    return pd.DataFrame(rows, columns=["couple_id", "idea_id", "rank"])


def _one_set_per_couple(frame: pd.DataFrame, couples, k=3) -> None:
    assert sorted(frame["couple_id"].unique()) == sorted(couples)
    assert not frame.duplicated(["couple_id", "rank"]).any()
    ranks = frame.groupby("couple_id")["rank"].apply(lambda r: tuple(sorted(r)))
    assert set(ranks) == {tuple(range(1, k + 1))}


# --------------------------------------------------------------------------- pure parts

def test_week_start_and_context_known_answers():
    assert week_start("2025-06-04") == _dt.date(2025, 6, 2)
    assert week_start(_dt.date(2025, 6, 8)) == _dt.date(2025, 6, 2)  # a Sunday belongs to its Monday
    ctx = week_context("2025-06-02")
    assert ctx.day == _dt.date(2025, 6, 7) and ctx.season == "summer"
    assert week_context("2025-12-29").season == "winter"
    with pytest.raises(ValueError, match="week must be a date as YYYY-MM-DD, got '2025-13-01'"):
        week_start("2025-13-01")


def test_pick_records_are_to_dicts_records_read_a_column_at_a_time(world):
    sim = world["sim"]
    picks = plan_picks(world["recommender"], sim.dates, list(sim.couples["id"][:20]), world["week"], 3, run_id=4)
    for frame in (picks, picks.assign(run_id=pd.array([7, None] * (len(picks) // 2) + [7] * (len(picks) % 2),
                                                         dtype="Int64"),
                                      title=[None] + list(picks["title"][1:]))):
        expected = frame.to_dict(orient="records")
        got = pick_records(frame)
        assert repr(got) == repr(expected)  # the same values of the same types (a missing run_id None)
        assert [type(v) for v in got[1].values()] == [type(v) for v in expected[1].values()]
    assert pick_records(picks, ["idea_id", "rank"])[0] == {"idea_id": picks["idea_id"][0], "rank": 1}


def test_recently_done_is_the_last_90_days_only():
    day = _dt.date(2025, 6, 7)
    dates = pd.DataFrame({
        "couple_id": ["a", "a", "a", "b", "b"],
        "idea_id": ["inside", "outside", "undated", "boundary", "later"],
        "done_on": pd.to_datetime(["2025-03-10", "2025-03-08", None, "2025-03-09", "2025-06-20"]),
        "rating_a": np.nan, "rating_b": np.nan,
    })
    # 2025-03-09 is exactly 90 days before the Saturday: outside the window
    assert recently_done(dates, day) == {"a": {"inside"}, "b": {"later"}}


# --------------------------------------------------------------------------- a full run

@pytest.mark.slow
def test_run_writes_k_distinct_category_picks_once_per_couple(store, world, tmp_path):
    out = tmp_path / "out"
    result = _run(store, world, out)
    couples = store.couple_ids(active_only=True)
    picks = _picks(out)
    assert result.couples == len(couples) == _N_COUPLES and result.picks == len(picks) == 3 * _N_COUPLES
    _one_set_per_couple(picks, couples)
    assert not picks.duplicated(["couple_id", "category"]).any()
    assert not picks.duplicated(["couple_id", "idea_id"]).any()
    category = world["catalog"].frame["category"]
    assert (picks["category"] == category.loc[picks["idea_id"]].to_numpy()).all()
    assert (picks["reason"].str.len() > 0).all() and (picks["model_version"] == world["recommender"].version).all()
    jsonl = [json.loads(line) for line in (out / "picks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["couple_id"], r["rank"], r["idea_id"]) for r in jsonl] == \
        list(zip(picks["couple_id"], picks["rank"], picks["idea_id"]))
    assert all(r["reason"] == "; ".join(r["reasons"]) for r in jsonl)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["couples"] == _N_COUPLES and summary["picks"] == 3 * _N_COUPLES
    assert summary["run_id"] == result.run_id and summary["model_version"] == world["recommender"].version
    assert summary["week"] == world["week"].isoformat()
    shares = picks["category"].value_counts(normalize=True).round(4).to_dict()
    assert summary["share_by_category"] == shares
    novelty = picks["pillars"].str.split("|").map(lambda p: "novelty" in p).mean()
    assert summary["share_by_pillar"]["novelty"] == round(novelty, 4)
    _one_set_per_couple(_sent_rows(store, world["week"]), couples)


@pytest.mark.slow
def test_the_newsletter_plans_with_each_couples_stated_profile(store, world, tmp_path):
    out = tmp_path / "out"
    _run(store, world, out)
    got = [tuple(r) for r in _picks(out)[["couple_id", "rank", "idea_id"]].itertuples(index=False)]
    couples = store.couple_ids(active_only=True)
    profiles = store.profiles(couples)
    assert profiles == from_couples(world["sim"].couples)  # every simulated couple stated interests and a ceiling
    dates = store.dates_frame(couples)

    def planned(**kwargs) -> list[tuple]:
        frame = plan_picks(world["recommender"], dates, couples, world["week"], **kwargs)
        return [tuple(r) for r in frame[["couple_id", "rank", "idea_id"]].itertuples(index=False)]

    assert got == planned(profiles=profiles)
    assert got != planned()
    # the picks lean toward what the couples said they are into but have not been doing (their
    # stated interests outside their three most done categories), and stay within what they spend
    category = world["catalog"].frame["category"]
    cost = world["catalog"].frame["cost"].astype(int)
    done = dates.assign(category=category[dates["idea_id"]].to_numpy())
    most = done.groupby("couple_id")["category"].agg(lambda s: set(s.value_counts().index[:3]))

    def share(rows) -> float:
        return float(np.mean([category[i] in profiles[c].interests and category[i] not in most[c]
                              for c, _, i in rows]))

    def over(rows) -> float:
        return float(np.mean([cost[i] > profiles[c].budget_ceiling for c, _, i in rows]))
    assert share(got) > share(planned())
    assert over(got) < over(planned())


@pytest.mark.slow
def test_exclusions_recent_dates_and_last_four_newsletters(store, world, tmp_path):
    week = world["week"]
    couples = store.couple_ids(active_only=True)
    rec = world["recommender"]
    # what each couple would get with no newsletter history
    before = plan_picks(rec, store.dates_frame(couples), couples, week)
    top = before[before["rank"] == 1].set_index("couple_id")["idea_id"]
    second = before[before["rank"] == 2].set_index("couple_id")["idea_id"]
    third = before[before["rank"] == 3].set_index("couple_id")["idea_id"]
    saturday = week_context(week).day
    # the third pick was done (and loved) 30 days before the weekend: excluded by the 90-day rule
    for couple, idea in third.items():
        store.add_date(couple, idea, saturday - _dt.timedelta(days=30), 5, 5)
    # five earlier newsletters: the top pick in the oldest (5 weeks back, no longer excluded),
    # the second pick 2 weeks back (excluded), filler in between
    ideas = list(world["catalog"].ids)
    for back in range(5, 0, -1):
        sent_week = week - _dt.timedelta(weeks=back)
        run = store.start_newsletter_run(sent_week, 1)
        if back == 5:
            chosen = top
        elif back == 2:
            chosen = second
        else:
            chosen = pd.Series(ideas[back], index=top.index)
        store.record_sends(run, sent_week, [{"couple_id": c, "idea_id": i, "rank": 1} for c, i in chosen.items()])
        store.finish_newsletter_run(run)
    out = tmp_path / "out"
    _run(store, world, out)
    picks = _picks(out)
    recent = recently_done(store.dates_frame(couples), saturday)
    assert sum(len(v) for v in recent.values()) > len(couples)  # simulated recent dates too
    for couple, group in picks.groupby("couple_id"):
        chosen = set(group["idea_id"])
        assert not chosen & recent.get(couple, set())
        assert second[couple] not in chosen and third[couple] not in chosen
        assert not chosen & {ideas[1], ideas[3], ideas[4]}
    # the 5th newsletter back no longer excludes: most couples get their top idea again
    again = picks[picks["rank"] == 1].set_index("couple_id")["idea_id"].eq(top).mean()
    assert again > 0.5


def test_not_for_us_ideas_are_never_in_the_newsletter(store, world, tmp_path):
    couples = store.couple_ids(active_only=True)
    before = plan_picks(world["recommender"], store.dates_frame(couples), couples, world["week"])
    top = before[before["rank"] == 1].set_index("couple_id")["idea_id"]
    for couple, idea in top.items():  # each couple's first pick: "not for us" on the pages
        assert store.mark_idea(couple, idea, "not-for-us")
    out = tmp_path / "out"
    _run(store, world, out)
    picks = _picks(out)
    assert len(picks) and set(picks["couple_id"]) <= set(top.index)
    for couple, group in picks.groupby("couple_id"):
        assert top[couple] not in set(group["idea_id"])


@pytest.mark.slow
def test_html_email_contains_each_pick(store, world, tmp_path):
    out = tmp_path / "out"
    _run(store, world, out)
    picks = _picks(out)

    class _Picks(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found, self.titles, self.external, self._in_title = [], [], [], False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if "data-idea" in attrs:
                self.found.append((int(attrs["data-rank"]), attrs["data-idea"]))
            if attrs.get("class") == "pick-title":
                self._in_title = True
                self.titles.append("")
            for key in ("src", "href"):
                if key in attrs:
                    self.external.append(attrs[key])
            if tag in ("link", "script", "style"):
                self.external.append(tag)

        def handle_endtag(self, tag):
            self._in_title = False

        def handle_data(self, data):
            if self._in_title:
                self.titles[-1] += data

    emails = out / "emails"
    assert len(list(emails.glob("*.html"))) == len(list(emails.glob("*.txt"))) == _N_COUPLES
    for couple, group in picks.groupby("couple_id"):
        parser = _Picks()
        parser.feed((emails / f"{couple}.html").read_text(encoding="utf-8"))
        assert parser.found == list(zip(group["rank"], group["idea_id"]))
        assert parser.titles == list(group["title"])  # unescaped back to "& <friends>"
        assert parser.external == []  # inline CSS only, nothing fetched
        text = (emails / f"{couple}.txt").read_text(encoding="utf-8")
        assert all(title in text for title in group["title"]) and "<" not in text.replace("<friends>", "")


def test_render_email_escapes_and_names_the_weekend(world):
    html, text = render_email("c<1>", [{"rank": 1, "idea_id": "idea-000", "title": "A & B",
                                        "reason": "you loved <x>", "category": "food-and-drink"}],
                              "2025-06-04", world["catalog"])
    assert "A &amp; B" in html and "you loved &lt;x&gt;" in html and "c&lt;1&gt;" in html
    assert "1 idea for Saturday 7 June" in text and "Why this one: you loved <x>" in text


def test_a_pick_block_is_rendered_once_and_reused_with_its_own_couple_and_position(world):
    from engine.newsletter import rendering

    rendering._pick_html.cache_clear()  # noqa: SLF001
    pick = {"rank": 1, "idea_id": "idea-000", "title": "A & B", "reason": "you loved <x>", "category": "food-and-drink"}
    first, _ = render_email("c1", [pick], "2025-06-04", world["catalog"])
    second, _ = render_email("c2", [pick], "2025-06-04", world["catalog"])
    assert rendering._pick_html.cache_info().hits == 1  # noqa: SLF001
    assert first.replace("couple c1.", "couple c2.") == second and "A &amp; B" in second
    # the same idea second in another couple's list: its own rank and colour, not the cached block
    other = {**pick, "idea_id": "idea-001", "title": "C"}
    moved, _ = render_email("c3", [other, {**pick, "rank": 2}], "2025-06-04", world["catalog"])
    assert 'data-idea="idea-000" data-rank="2"' in moved and 'data-rank="1"' in moved


# --------------------------------------------------------------------------- safety

def _fail_on_call(monkeypatch, owner, name: str, n: int, error: BaseException):
    """Make ``owner.name`` raise ``error`` on its ``n``-th call (the others go through); returns the real one."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return real


def test_crash_in_chunk_two_then_rerun_resumes_with_one_entry_per_couple(store, world, tmp_path, monkeypatch):
    out = tmp_path / "out"
    # chunk 2's files are written, its sends are not
    real = _fail_on_call(monkeypatch, store, "record_sends", 2, OSError("disk went away"))
    with pytest.raises(OSError, match="disk went away"):
        _run(store, world, out)
    monkeypatch.setattr(store, "record_sends", real)
    assert len(store.sent_couples(world["week"])) == _CHUNK
    assert store.completed_newsletter_run(world["week"]) is None
    assert len(list((out / "parts").glob("*.csv"))) == 2  # chunk 1 and the orphan of chunk 2
    result = _run(store, world, out)
    assert result.skipped == _CHUNK and result.couples == _N_COUPLES - _CHUNK
    couples = store.couple_ids(active_only=True)
    _one_set_per_couple(_picks(out), couples)
    _one_set_per_couple(_sent_rows(store, world["week"]), couples)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["couples"] == _N_COUPLES and len(summary["runs"]) == 2


def test_failure_while_planning_marks_run_failed_and_resumes(store, world, tmp_path, monkeypatch):
    import engine.newsletter.chunks as chunks

    out = tmp_path / "out"
    real = _fail_on_call(monkeypatch, chunks, "plan_picks", 3, MemoryError("out of memory in chunk 3"))
    with pytest.raises(MemoryError):
        _run(store, world, out)
    monkeypatch.setattr(chunks, "plan_picks", real)
    with store._read() as conn:  # noqa: SLF001
        status, error = conn.exec_driver_sql("SELECT status, error FROM newsletter_runs").one()
    assert status == "failed" and "chunk 3" in error
    result = _run(store, world, out)
    assert result.skipped == 2 * _CHUNK
    _one_set_per_couple(_picks(out), store.couple_ids(active_only=True))


@pytest.mark.slow
def test_killed_process_resumes_with_one_entry_per_couple(sqlite_url, world, tmp_path):
    """A real SIGKILL right after the first chunk's sends are recorded, then a CLI re-run."""
    _store(sqlite_url, world).close()
    out = tmp_path / "out"
    env = {**os.environ, "DATEIDEAS_DATABASE_URL": sqlite_url, "DATEIDEAS_MODEL_DIR": str(world["model_dir"])}
    args = ["newsletter", "--week", world["week"].isoformat(), "--out", str(out), "--chunk-size", str(_CHUNK),
            "--catalog", str(world["catalog_dir"]), "--no-progress"]
    killer = (
        "import os, signal, sys\n"
        "from engine.store import Store\n"
        "real = Store.record_sends\n"
        "def record_then_die(self, *a, **kw):\n"
        "    n = real(self, *a, **kw)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "Store.record_sends = record_then_die\n"
        "from engine.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    proc = subprocess.run([sys.executable, "-c", killer, *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    store = open_store(sqlite_url)
    try:
        assert len(store.sent_couples(world["week"])) == _CHUNK
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        assert f"{_CHUNK} couple(s) were already sent" in result.output
        couples = store.couple_ids(active_only=True)
        _one_set_per_couple(_picks(out), couples)
        _one_set_per_couple(_sent_rows(store, world["week"]), couples)
    finally:
        store.close()


@pytest.mark.slow
def test_second_complete_run_refuses_without_force(store, world, tmp_path):
    out = tmp_path / "out"
    first = _run(store, world, out)
    with pytest.raises(AlreadySentError, match=r"already sent completely \(run \d+.*Pass --force"):
        _run(store, world, out)
    again = _run(store, world, out, force=True)
    assert again.run_id != first.run_id and again.couples == _N_COUPLES and again.skipped == 0
    couples = store.couple_ids(active_only=True)
    _one_set_per_couple(_picks(out), couples)
    _one_set_per_couple(_sent_rows(store, world["week"]), couples)
    assert set(_picks(out)["run_id"]) == {again.run_id}


@pytest.mark.slow
def test_forced_run_that_crashes_is_carried_on_without_force(store, world, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _run(store, world, out)
    real = _fail_on_call(monkeypatch, store, "record_sends", 2, OSError("disk went away"))
    with pytest.raises(OSError):
        _run(store, world, out, force=True)
    monkeypatch.setattr(store, "record_sends", real)
    forced = store.latest_newsletter_run(world["week"])
    assert forced["status"] == "failed" and forced["id"] > first.run_id
    assert len(store.sent_couples(world["week"], after_run=first.run_id)) == _CHUNK
    # no --force: the stopped forced run is carried on, not refused and not started over
    result = _run(store, world, out)
    assert result.skipped == _CHUNK and result.couples == _N_COUPLES - _CHUNK
    couples = store.couple_ids(active_only=True)
    _one_set_per_couple(_picks(out), couples)
    sent = _sent_rows(store, world["week"])
    _one_set_per_couple(sent, couples)  # the first run's sends were replaced, never doubled
    assert first.run_id not in set(_picks(out)["run_id"])
    with pytest.raises(AlreadySentError):
        _run(store, world, out)


def test_out_folder_of_another_week_and_bad_k_are_refused(store, world, tmp_path):
    out = tmp_path / "out"
    _run(store, world, out, couple_ids=store.couple_ids()[:5])
    other = world["week"] + _dt.timedelta(weeks=1)
    with pytest.raises(NewsletterError, match=f"holds the newsletter of week {world['week']}, not {other}"):
        run_newsletter(store, world["recommender"], other, out, progress=False)
    with pytest.raises(NewsletterError, match="k must be an integer from 1 to 10, got 0"):
        _run(store, world, tmp_path / "o2", k=0)


# --------------------------------------------------------------------------- dask

@pytest.mark.slow
def test_local_dask_cluster_gives_the_in_process_picks(sqlite_url, world, tmp_path, monkeypatch):
    import distributed  # a core dependency: never skipped

    import engine.newsletter.chunks as chunks

    stores = {"local": _store(sqlite_url, world)}
    for name in ("dask", "shipped"):
        stores[name] = _store(f"sqlite:///{tmp_path / name}.sqlite3", world)
    try:
        _run(stores["local"], world, tmp_path / "local", seed=7)
        # worker processes, as in production: the recommender and the chunks really are pickled
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
            assert chunks._workers_share(client, tmp_path)  # noqa: SLF001
            assert not list(tmp_path.glob(".probe-*"))
            _run(stores["dask"], world, tmp_path / "dask", seed=7, client=client)  # workers write the files
            monkeypatch.setattr(chunks, "_workers_share", lambda client, folder: False)
            _run(stores["shipped"], world, tmp_path / "shipped", seed=7, client=client)  # emails come back
    finally:
        for store in stores.values():
            store.close()
    local = _picks(tmp_path / "local").drop(columns="run_id")
    assert len(local) == 3 * _N_COUPLES
    emails = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "local" / "emails").iterdir()}
    assert len(emails) == 2 * _N_COUPLES
    for name in ("dask", "shipped"):
        pd.testing.assert_frame_equal(local, _picks(tmp_path / name).drop(columns="run_id"))
        assert {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / name / "emails").iterdir()} == emails


# --------------------------------------------------------------------------- CLI

def test_cli_couples_file_and_errors(sqlite_url, world, tmp_path):
    _store(sqlite_url, world).close()
    env = {"DATEIDEAS_DATABASE_URL": sqlite_url, "DATEIDEAS_MODEL_DIR": str(world["model_dir"])}
    base = ["newsletter", "--week", world["week"].isoformat(), "--catalog", str(world["catalog_dir"]),
            "--no-progress"]
    listed = tmp_path / "couples.txt"
    listed.write_text("couple_id\nc000003\n# a comment\n\nc000001\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, [*base, "--out", str(tmp_path / "a"), "--couples", str(listed), "--k", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "2 couples, 4 picks" in result.output
    assert sorted(_picks(tmp_path / "a")["couple_id"].unique()) == ["c000001", "c000003"]
    again = runner.invoke(main, [*base, "--out", str(tmp_path / "a"), "--couples", str(listed)], env=env)
    assert again.exit_code == 1 and "already sent completely" in again.output and "--force" in again.output
    listed.write_text("c000001\nnobody\n", encoding="utf-8")
    bad = runner.invoke(main, [*base, "--out", str(tmp_path / "b"), "--couples", str(listed)], env=env)
    assert bad.exit_code == 1 and "1 unknown couple id(s): nobody" in bad.output
    both = runner.invoke(main, [*base, "--out", str(tmp_path / "c"), "--workers", "2", "--scheduler", "tcp://x:1"],
                         env=env)
    assert both.exit_code == 2 and "either --workers N" in both.output
    week = runner.invoke(main, ["newsletter", "--week", "next friday", "--out", str(tmp_path / "d")], env=env)
    assert week.exit_code == 2 and "must be a date as YYYY-MM-DD" in week.output
    nomodel = runner.invoke(main, [*base, "--out", str(tmp_path / "e")],
                            env={**env, "DATEIDEAS_MODEL_DIR": str(tmp_path / "empty")})
    assert nomodel.exit_code == 1 and "no live model" in nomodel.output


@pytest.mark.slow
def test_cli_on_a_local_cluster_prints_the_result_not_dask_chatter(sqlite_url, world, tmp_path):
    """`--workers N` as an operator runs it: a real process, a real local cluster, a quiet console."""
    _store(sqlite_url, world).close()
    env = {**os.environ, "DATEIDEAS_DATABASE_URL": sqlite_url, "DATEIDEAS_MODEL_DIR": str(world["model_dir"])}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "engine", "newsletter", "--week", world["week"].isoformat(),
                           "--out", str(out), "--catalog", str(world["catalog_dir"]), "--workers", "1",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{_N_COUPLES} couples, {3 * _N_COUPLES} picks" in done.stdout
    assert "INFO distributed" not in done.stderr and "dask: http://" in done.stderr
    _one_set_per_couple(_picks(out), [str(c) for c in world["sim"].couples["id"]])


# --------------------------------------------------------------------------- spreadsheet formula injection (issue 16)

_NASTY_IDS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "'quoted"]


def test_picks_csv_neutralises_formula_cells_and_the_run_still_sees_the_ids(store, world, tmp_path, monkeypatch):
    """Couple ids a spreadsheet would run as formulas get a leading quote in picks.csv (OWASP); the run's own
    bookkeeping reads them back exactly: a crashed run resumes on them and the summary counts them once."""
    for couple in _NASTY_IDS:
        store.create_couple(couple_id=couple)
    out = tmp_path / "out"
    targets = _NASTY_IDS + [str(c) for c in world["sim"].couples["id"][:4]]
    real = _fail_on_call(monkeypatch, store, "record_sends", 2, OSError("disk went away"))
    with pytest.raises(OSError):
        _run(store, world, out, couple_ids=targets, chunk_size=5)
    monkeypatch.setattr(store, "record_sends", real)
    result = _run(store, world, out, couple_ids=targets, chunk_size=5)  # the orphan part is told apart by id
    assert result.skipped == 5 and result.couples == len(targets) - 5
    with (out / "picks.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    written = {row["couple_id"] for row in rows}
    assert {"'" + couple for couple in _NASTY_IDS} <= written
    def number(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    for row in rows:  # no text cell a spreadsheet would run (a negative score is a number, not a formula)
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) and not number(value)
                       for value in row.values()), row
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["couples"] == len(targets)
    lines = (out / "picks.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["couple_id"] for line in lines} == set(targets)  # JSONL is data: as it is


# --------------------------------------------------------------------------- single flight per week (issue 16)

@pytest.fixture
def any_store(db_url, world):
    """The world's couples on each backend (the week's lock lives in the database)."""
    opened = _store(db_url, world)
    yield opened
    opened.close()


def test_a_second_run_of_the_week_is_refused_while_the_first_runs(any_store, world, tmp_path):
    """Cron overlap: a run of the same week started while one is running is refused with a clear message
    (here from inside the first run, between its chunks), and the week ends with one set of picks per couple."""
    store, refused = any_store, []

    def second_run(result):
        if result.index == 0:
            with pytest.raises(NewsletterBusyError, match=r"another newsletter run of the week of .* is in progress "
                                                          r"\(.+\).*nothing was done"):
                _run(store, world, tmp_path / "other")  # another folder, the same week
            refused.append(True)

    _run(store, world, tmp_path / "out", on_chunk=second_run)
    assert refused == [True]
    couples = store.couple_ids(active_only=True)
    _one_set_per_couple(_picks(tmp_path / "out"), couples)  # no duplicate rows in picks.csv
    _one_set_per_couple(_sent_rows(store, world["week"]), couples)  # nor in the database
    assert store.lock_holder(f"newsletter:{world['week']}") is None  # released at the end
    with store._read() as conn:  # noqa: SLF001
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM newsletter_runs").scalar() == 1
    # the CLI says so with the "try later" status of `dateideas train`
    assert store.try_lock(f"newsletter:{world['week']}", "elsewhere:1:live", ttl_s=600)
    env = {"DATEIDEAS_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
           "DATEIDEAS_MODEL_DIR": str(world["model_dir"])}
    result = CliRunner().invoke(main, ["newsletter", "--week", world["week"].isoformat(), "--out",
                                       str(tmp_path / "cli"), "--catalog", str(world["catalog_dir"]),
                                       "--no-progress", "--force"], env=env)
    assert result.exit_code == 75 and "elsewhere:1:live" in result.output


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_when_its_lease_lapses(any_store, world, tmp_path):
    """A run killed on another host leaves its row `running` and its lock: once the lease lapses the next run
    takes the week, marks the killed run failed and finishes it."""
    store = any_store
    week = world["week"]
    killed = store.start_newsletter_run(week, 3)
    elsewhen = store.start_newsletter_run(week - _dt.timedelta(days=7), 3)  # killed too, its lock long gone
    assert store.try_lock(f"newsletter:{week}", "otherhost:4242:killed", ttl_s=600)
    with pytest.raises(NewsletterBusyError, match="otherhost:4242:killed"):  # its lease is live: refused
        _run(store, world, tmp_path / "out")
    assert store.latest_newsletter_run(week)["status"] == "running"
    with store._write() as conn:  # noqa: SLF001 - the lease lapses (as 600 s without a heartbeat would)
        conn.exec_driver_sql("UPDATE locks SET expires_at = acquired_at")
    result = _run(store, world, tmp_path / "out")
    with store._read() as conn:  # noqa: SLF001
        status, error = conn.exec_driver_sql(f"SELECT status, error FROM newsletter_runs WHERE id = {killed}").one()
    assert status == "failed" and "killed or crashed" in error
    assert store.latest_newsletter_run(week)["status"] == "completed" and result.couples == _N_COUPLES
    assert store.latest_newsletter_run(week - _dt.timedelta(days=7))["status"] == "failed"
    assert elsewhen != killed


@pytest.mark.slow
def test_a_killed_process_on_this_host_is_marked_failed_at_once(sqlite_url, world, tmp_path):
    """A real SIGKILL mid-run (test_killed_process_resumes_with_one_entry_per_couple): its dead pid frees the
    week's lock at once, and the re-run marks it failed instead of leaving it `running` forever."""
    _store(sqlite_url, world).close()
    out = tmp_path / "out"
    env = {**os.environ, "DATEIDEAS_DATABASE_URL": sqlite_url, "DATEIDEAS_MODEL_DIR": str(world["model_dir"])}
    args = ["newsletter", "--week", world["week"].isoformat(), "--out", str(out), "--chunk-size", str(_CHUNK),
            "--catalog", str(world["catalog_dir"]), "--no-progress"]
    killer = ("import os, signal, sys\nfrom engine.store import Store\nreal = Store.record_sends\n"
              "def record_then_die(self, *a, **kw):\n    real(self, *a, **kw)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "Store.record_sends = record_then_die\nfrom engine.cli import main\nmain(sys.argv[1:])\n")
    proc = subprocess.run([sys.executable, "-c", killer, *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    store = open_store(sqlite_url)
    try:
        first = store.latest_newsletter_run(world["week"])
        assert first["status"] == "running" and store.lock_holder(f"newsletter:{world['week']}") is not None
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        with store._read() as conn:  # noqa: SLF001
            status, error = conn.exec_driver_sql(
                f"SELECT status, error FROM newsletter_runs WHERE id = {first['id']}").one()
        assert status == "failed" and "killed or crashed" in error
        _one_set_per_couple(_picks(out), store.couple_ids(active_only=True))
    finally:
        store.close()


def _folder_state(out: Path) -> dict[str, bytes]:
    """Every file the operator sees in the output folder (hidden staging left out), with its bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}


@pytest.mark.slow
def test_a_forced_rerun_never_mixes_the_old_picks_with_new_emails(store, world, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _run(store, world, out)
    before = _folder_state(out)
    seen = []

    def look(result):  # while the forced run is unfinished, the folder is exactly the first run's
        seen.append(_folder_state(out) == before)

    real = _fail_on_call(monkeypatch, store, "record_sends", 3, OSError("disk went away"))
    with pytest.raises(OSError):
        _run(store, world, out, force=True, on_chunk=look)
    assert seen == [True, True] and _folder_state(out) == before  # stopped half-way: still the old set
    monkeypatch.setattr(store, "record_sends", real)
    again = _run(store, world, out, on_chunk=look)  # carried on, in the staging folder
    assert all(seen) and len(seen) == 4
    after = _folder_state(out)
    assert set(_picks(out)["run_id"]) == {again.run_id - 1, again.run_id}  # the forced run and its carrying on
    summary = json.loads(after["summary.json"])
    assert summary["couples"] == _N_COUPLES and first.run_id not in summary["runs"]
    emails = {name for name in after if name.startswith("emails/")}
    assert len(emails) == 2 * _N_COUPLES and emails == {n for n in before if n.startswith("emails/")}
    assert not (out / ".staging").exists() and not list(out.glob(".old-*"))
    _one_set_per_couple(_picks(out), store.couple_ids(active_only=True))
