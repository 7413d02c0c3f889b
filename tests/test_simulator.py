"""The couple simulator: determinism, routine, novelty response, ratings, constraints, oracle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.domain.catalog import load_catalog
from engine.domain.context import Context, season_of
from engine.domain.dataset import read_dataset
from engine.domain.dates import mean_rating
from engine.lab.simulator import SimulatedWorld, simulate

_DATA = Path(__file__).resolve().parent.parent / "data"


def _random_catalog(folder: Path, n: int = 150, seed: int = 0) -> Path:
    """A catalog of ``n`` random ideas with the shipped schema (every category well stocked)."""
    schema = json.loads((_DATA / "schema.json").read_text(encoding="utf-8"))
    attrs = schema["attributes"]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with (folder / "ideas.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "title", "description", *attrs])
        for i in range(n):
            row = [f"idea-{i:03d}", f"Idea {i}", f"Do thing number {i} together."]
            for name, spec in attrs.items():
                kind = spec["kind"]
                if name == "duration_min":
                    row.append(str(int(rng.integers(15, 240))))
                elif kind == "categorical":
                    row.append(str(rng.choice(spec["values"])))
                elif kind == "ordinal":
                    row.append(str(rng.choice(spec["order"])))
                elif kind == "boolean":
                    row.append("true" if rng.random() < 0.5 else "false")
                elif kind == "multi":
                    values = spec.get("values") or ["a", "b", "c"]
                    row.append("|".join([v for v in values if rng.random() < 0.5] or values[:1]))
                else:
                    row.append("notes")
            out.writerow(row)
    return folder


@pytest.fixture(scope="module", params=["random", "shipped"])
def catalog(request, tmp_path_factory):
    """A 150-idea random catalog with the shipped schema, and the shipped catalog itself."""
    if request.param == "shipped":
        return load_catalog()
    return load_catalog(_random_catalog(tmp_path_factory.mktemp("catalog")))


@pytest.fixture(scope="module")
def world(catalog) -> SimulatedWorld:
    return simulate(300, seed=7, catalog=catalog)


def _categories(world: SimulatedWorld) -> pd.Series:
    return world.catalog.frame["category"].loc[world.dates["idea_id"]].reset_index(drop=True)


def test_same_seed_same_world_and_different_seed_different(catalog):
    one, two = simulate(40, seed=3, catalog=catalog), simulate(40, seed=3, catalog=catalog)
    pd.testing.assert_frame_equal(one.dates, two.dates)
    pd.testing.assert_frame_equal(one.couples, two.couples)
    np.testing.assert_array_equal(one.expected_enjoyment(one.couple_ids),
                                  two.expected_enjoyment(two.couple_ids))
    other = simulate(40, seed=4, catalog=catalog)
    assert not one.dates["idea_id"].equals(other.dates["idea_id"])
    assert not one.dates["done_on"].equals(other.dates["done_on"])


def test_shipped_catalog_works_and_is_deterministic():
    one, two = simulate(25, seed=11), simulate(25, seed=11)
    pd.testing.assert_frame_equal(one.dates, two.dates)
    assert set(one.dates["idea_id"]) <= set(load_catalog().ids)
    assert one.expected_enjoyment(one.couple_ids).shape == (25, len(load_catalog()))


def test_simulated_couples_never_do_ideas_above_the_default_intimacy_level():
    """Simulated couples have the default level (affection: their profiles state none), so, as the engine
    never suggests them one, they never do an idea above it: the evaluation scores every model on dates
    the engine could have suggested."""
    shipped = load_catalog()
    levels = dict(zip(shipped.ids, shipped.frame["intimacy"]))
    assert sum(level != "affection" for level in levels.values()) >= 20  # the catalog has such ideas
    done = simulate(200, seed=4, catalog=shipped).dates["idea_id"]
    assert len(done) > 1000 and {levels[i] for i in done} == {"affection"}


def test_dates_frame_shape_and_context(world):
    dates = world.dates
    assert list(dates.columns[:5]) == ["couple_id", "idea_id", "done_on", "rating_a", "rating_b"]
    per_couple = dates.groupby("couple_id").size()
    assert len(per_couple) == 300 and per_couple.min() >= 10
    assert 24 <= per_couple.mean() <= 32  # 10 + Poisson(18)
    assert dates["done_on"].min() >= pd.Timestamp("2024-01-01")
    assert all(g.is_monotonic_increasing for _, g in dates.groupby("couple_id")["done_on"])
    days = dates["done_on"].dt.date
    assert (dates["ctx_season"] == days.map(season_of)).all()
    assert (dates["ctx_weekday"] == dates["done_on"].dt.day_name().str.lower()).all()
    snow = dates.loc[dates["ctx_weather"] == "snow", "ctx_season"]
    assert len(snow) and set(snow) <= {"winter", "autumn"}


def test_couples_have_a_routine(world):
    cats = _categories(world)
    frame = pd.DataFrame({"couple": world.dates["couple_id"], "cat": cats})
    share = frame.groupby("couple")["cat"].agg(lambda s: s.value_counts().iloc[:3].sum() / len(s))
    assert share.mean() >= 0.6
    # routine_categories names exactly those top-3 categories
    first = world.couple_ids[0]
    counts = frame.loc[frame["couple"] == first, "cat"].value_counts()
    assert set(world.routine_categories([first])[0]) <= set(counts.index[:4])
    assert world.routine_categories([first])[0][0] == counts.index[0]


def test_a_well_matched_new_idea_beats_the_most_repeated_one(world):
    ids = world.couple_ids
    truth = world.expected_enjoyment(ids)
    taste = world.intrinsic_enjoyment(ids)
    done = world.times_done(ids)
    cats = world.catalog.frame["category"].to_numpy()
    novelty = world.catalog.frame["novelty"].astype(int).to_numpy()
    routine = world.routine_categories(ids)
    new, repeated = [], []
    for r in range(len(ids)):
        well_matched = taste[r] >= np.quantile(taste[r], 0.75)
        fresh = (done[r] == 0) & ~np.isin(cats, routine[r]) & (novelty >= 4) & well_matched
        if fresh.any():
            new.append(truth[r, fresh].mean())
            repeated.append(truth[r, np.argmax(done[r])])
    assert len(new) >= 250
    assert np.mean(new) > np.mean(repeated) + 0.2
    assert np.mean(np.array(new) > np.array(repeated)) > 0.6


def test_repeats_wear_off_in_the_oracle(world):
    ids = world.couple_ids
    truth, taste, done = (world.expected_enjoyment(ids), world.intrinsic_enjoyment(ids),
                          world.times_done(ids))
    most = np.argmax(done, axis=1)
    rows = np.arange(len(ids))
    # the most repeated idea is enjoyed less than the couple's taste for it alone would say
    inside = taste[rows, most] < 5.0
    assert np.mean(truth[rows, most][inside] < taste[rows, most][inside] + 0.1) > 0.7


def test_ratings_are_on_the_scale_and_partners_correlate(world):
    dates = world.dates
    for col in ("rating_a", "rating_b"):
        values = dates[col].dropna()
        assert set(values.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
        assert 0.05 < dates[col].isna().mean() < 0.11
    both = dates[["rating_a", "rating_b"]].dropna()
    corr = np.corrcoef(both["rating_a"], both["rating_b"])[0, 1]
    assert corr > 0.5
    assert (both["rating_a"] != both["rating_b"]).mean() > 0.2
    assert 3.0 < np.nanmean(mean_rating(dates)) < 4.6


def test_ratings_follow_the_truth(world):
    """Couples rate higher the ideas they like more in themselves."""
    ids = world.dates["couple_id"].to_numpy()
    rows = world.couples.reset_index().set_index("id").loc[ids, "index"].to_numpy()
    cols = world.catalog.position(world.dates["idea_id"])
    taste = world.intrinsic_enjoyment(world.couple_ids)[rows, cols]
    rating = mean_rating(world.dates)
    ok = ~np.isnan(rating)
    assert np.corrcoef(taste[ok], rating[ok])[0, 1] > 0.4


def test_oracle_is_taste_plus_novelty_bonus_minus_wear(world):
    """expected_enjoyment = clip(intrinsic + novelty_bonus - rho log(1 + times done)) exactly; the
    bonus is zero for ideas of the couple's only recent category and largest for unfamiliar, novel ones."""
    ids = world.couple_ids
    taste, bonus, done = world.intrinsic_enjoyment(ids), world.novelty_bonus(ids), world.times_done(ids)
    rho = world._state.rho.astype(np.float64)
    np.testing.assert_allclose(world.expected_enjoyment(ids),
                               np.clip(taste + bonus - rho[:, None] * np.log1p(done), 1, 5), atol=1e-5)
    assert (bonus >= 0).all() and (bonus <= 1.6 + 1e-6).all()
    # an idea of a category absent from the last 20 dates gets the full bonus nu * n_i: the same
    # multiple of n_i for every such idea of a couple; ideas of categories done lately get less
    cats = world.catalog.frame["category"].to_numpy()
    checked = 0
    for couple, rows in world.dates.groupby("couple_id").tail(20).groupby("couple_id"):
        row = list(ids).index(couple)
        seen = np.isin(cats, cats[world.catalog.position(list(rows["idea_id"]))])
        full = ~seen & (bonus[row] > 0)
        nu = world._state.nu[row]
        np.testing.assert_allclose(bonus[row, ~seen], nu * _novelty_levels(world)[~seen], rtol=1e-5)
        assert (bonus[row, seen] < nu * _novelty_levels(world)[seen] + 1e-6).all()
        checked += int(full.any())
    assert checked > 100


def _novelty_levels(world) -> np.ndarray:
    """n_i from the catalog, as the simulator's docstring defines it."""
    f = world.catalog.frame
    return (0.5 * (f["novelty"].astype(int).to_numpy() - 1) / 4
            + 0.25 * (f["interactivity"] == "interactive").to_numpy()
            + 0.25 * (f["energy"].astype(int).to_numpy() - 1) / 2)


def test_affordable_is_cost_within_the_budget_ceiling(world):
    ids = world.couple_ids[:50]
    cost = world.catalog.frame["cost"].astype(int).to_numpy()
    ceiling = world.couples.set_index("id").loc[ids, "budget_ceiling"].to_numpy()
    np.testing.assert_array_equal(world.affordable(ids), cost[None, :] <= ceiling[:, None])
    assert world.affordable(ids).any(axis=1).all()


def test_kids_and_budget_constraints(world):
    dates = world.dates.merge(world.couples, left_on="couple_id", right_on="id")
    ideas = world.catalog.frame
    kid_friendly = ideas["kid_friendly"].loc[dates["idea_id"]].to_numpy()
    on_kid_dates = dates["ctx_kids"].to_numpy()
    assert on_kid_dates.any()
    assert kid_friendly[on_kid_dates].all()
    assert not (on_kid_dates & ~dates["kids"].to_numpy()).any()
    assert 0.25 < world.couples["kids"].mean() < 0.45
    kid_couples = dates[dates["kids"]]
    assert 0.35 < kid_couples["ctx_kids"].mean() < 0.65
    cost = ideas["cost"].astype(int).loc[dates["idea_id"]].to_numpy()
    ceiling = dates["budget_ceiling"].to_numpy()
    assert (cost <= ceiling + 1).all()
    assert (cost > ceiling).mean() < 0.06


def test_couple_profiles(world, catalog):
    couples = world.couples
    assert list(couples.columns) == ["id", "budget_ceiling", "kids", "interests", "created"]
    assert couples["id"].is_unique
    assert couples["budget_ceiling"].between(0, 3).all()
    categories = set(catalog.frame["category"])
    for interests in couples["interests"]:
        parts = interests.split("|")
        assert 2 <= len(parts) <= 3 and set(parts) <= categories
    first = world.dates.groupby("couple_id")["done_on"].min()
    created = pd.to_datetime(couples.set_index("id")["created"]).loc[first.index]
    assert (created <= first).all()


def test_oracle_context_penalties_known_answers(world, catalog):
    ids = world.couple_ids[:50]
    base = world.expected_enjoyment(ids)
    inner = (base > 2.0) & (base < 4.0)  # the oracle clips to 1-5: compare away from the bounds
    rain = world.expected_enjoyment(ids, context=Context(weather="rain"))
    dependent = catalog.frame["weather_dependent"].to_numpy()
    np.testing.assert_allclose(rain[:, ~dependent], base[:, ~dependent])
    np.testing.assert_allclose((base - rain)[:, dependent][inner[:, dependent]], 1.0, atol=1e-5)
    clear = world.expected_enjoyment(ids, context=Context(weather="clear"))
    np.testing.assert_allclose(clear, base)
    winter = world.expected_enjoyment(ids, context=Context(season="winter"))
    off = ~catalog.frame["seasons"].map(lambda s: "winter" in s).to_numpy()
    np.testing.assert_allclose(winter[:, ~off], base[:, ~off])
    np.testing.assert_allclose((base - winter)[:, off][inner[:, off]], 1.0, atol=1e-5)
    assert base.min() >= 1.0 and base.max() <= 5.0


def test_oracle_subsets_and_unknown_ids(world, catalog):
    ids = list(world.couple_ids[[3, 1]])
    ideas = list(catalog.ids[[5, 0, 9]])
    full = world.expected_enjoyment(world.couple_ids)
    part = world.expected_enjoyment(ids, ideas)
    np.testing.assert_allclose(part, full[np.ix_([3, 1], [5, 0, 9])])
    with pytest.raises(KeyError, match="unknown couple id.*'nobody'"):
        world.expected_enjoyment(["nobody"])
    with pytest.raises(KeyError, match="unknown idea id.*'no-such-idea'"):
        world.expected_enjoyment(ids, ["no-such-idea"])


def test_generic_catalog_without_the_shipped_attributes(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps({"attributes": {
        "cuisine": {"kind": "categorical"},
        "price": {"kind": "ordinal", "order": ["low", "medium", "high"]},
        "parking": {"kind": "boolean"},
    }}), encoding="utf-8")
    rng = np.random.default_rng(1)
    rows = ["id,title,cuisine,price,parking"]
    for i in range(40):
        rows.append(f"r{i},Place {i},{rng.choice(['thai', 'pizza', 'sushi', 'tacos', 'vegan'])},"
                    f"{rng.choice(['low', 'medium', 'high'])},{rng.choice(['true', 'false'])}")
    (tmp_path / "ideas.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    generic = load_catalog(tmp_path)
    world = simulate(60, seed=2, catalog=generic)
    assert set(world.categories) == {"thai", "pizza", "sushi", "tacos", "vegan"}
    assert len(world.dates) >= 600
    routines = world.routine_categories(world.couple_ids)
    assert all(1 <= len(r) <= 3 and set(r) <= set(world.categories) for r in routines)
    assert world.expected_enjoyment(world.couple_ids).shape == (60, 40)


@pytest.mark.parametrize("bad, message", [
    (0, "n_couples must be a positive integer, got 0"),
    (2.5, "n_couples must be a positive integer, got 2.5"),
])
def test_bad_couple_count(bad, message):
    with pytest.raises(ValueError, match=message):
        simulate(bad)


def test_negative_seed():
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        simulate(5, seed=-1)


def test_cli_simulate_writes_the_import_format(tmp_path):
    out = tmp_path / "sim"
    catalog_dir = tmp_path / "cat"
    _random_catalog(catalog_dir)
    result = CliRunner().invoke(main, ["simulate", "--couples", "30", "--seed", "2", "--out", str(out),
                                       "--catalog", str(catalog_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "wrote 30 couples" in result.output
    assert {p.name for p in out.iterdir()} == {"ideas.csv", "schema.json", "dates.csv", "couples.csv"}
    data = read_dataset(out)
    world = simulate(30, seed=2, catalog=load_catalog(catalog_dir))
    pd.testing.assert_frame_equal(data.dates, world.dates)
    pd.testing.assert_frame_equal(data.couples, world.couples)


# --------------------------------------------------------------------------- generation options (issue 21)

@pytest.fixture(scope="module")
def generated():
    from engine.lab.simulator import generate_catalog

    return generate_catalog(400, seed=1)


def test_generated_catalog_is_valid_and_seeded(generated, tmp_path):
    from engine.domain.catalog import check_catalog
    from engine.domain.dataset import write_dataset
    from engine.lab.simulator import generate_catalog

    assert len(generated) == 400 and generated.ids[0] == "g00000"
    assert list(generated.schema.names()) == list(load_catalog().schema.names())
    pd.testing.assert_frame_equal(generate_catalog(400, seed=1).frame, generated.frame)
    world = simulate(20, seed=0, catalog=generated)
    write_dataset(tmp_path, generated, world.dates)
    assert check_catalog(tmp_path).errors == []


def test_dates_per_couple_makes_histories_short():
    per_couple = simulate(400, seed=0, dates_per_couple=4).dates.groupby("couple_id").size()
    assert 3.6 < per_couple.mean() < 4.4 and per_couple.min() >= 1
    with pytest.raises(ValueError, match="dates_per_couple must be a number >= 1"):
        simulate(10, dates_per_couple=0.5)


def test_popularity_skew_makes_a_long_tail_without_touching_enjoyment(generated):
    flat = simulate(300, seed=0, catalog=generated)
    skewed = simulate(300, seed=0, catalog=generated, popularity_skew=1.0)

    def head_share(world):  # share of (couple, idea) pairs on the 10% most done ideas
        counts = world.dates.drop_duplicates(["couple_id", "idea_id"])["idea_id"].value_counts()
        return counts.iloc[:40].sum() / counts.sum()

    assert head_share(skewed) > head_share(flat) + 0.05  # measured 0.45 against 0.36
    ids = flat.couple_ids[:50]
    np.testing.assert_allclose(skewed.intrinsic_enjoyment(ids), flat.intrinsic_enjoyment(ids))
    with pytest.raises(ValueError, match="popularity_skew must be a number from 0"):
        simulate(10, popularity_skew=-1)


def test_cli_simulate_writes_attribute_less_usage_counts(tmp_path):
    out = tmp_path / "usage"
    result = CliRunner().invoke(main, ["simulate", "--couples", "40", "--ideas", "200", "--dates-per-couple", "6",
                                       "--popularity-skew", "1", "--no-attributes", "--counts", "--out", str(out),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "schema.json").read_text())["attributes"] == {}
    assert (out / "dates.csv").read_text().splitlines()[0] == "couple_id,idea_id,count"
    data = read_dataset(out)
    assert data.counts and len(data.catalog) == 200
    assert data.dates.groupby(["couple_id", "idea_id"]).size().max() == 1  # one row per couple and idea


def test_partner_enjoyment_is_each_partners_own_truth_around_the_oracle():
    from engine.lab.simulator import simulate

    world = simulate(30, seed=2)
    couples = list(world.couples["id"].astype(str)[:10])
    both = world.partner_enjoyment(couples)
    mean = world.expected_enjoyment(couples)
    assert both.shape == mean.shape + (2,) and both.min() >= 1 and both.max() <= 5
    inside = (both > 1) & (both < 5)
    unclipped = inside.all(axis=-1) & (mean > 1) & (mean < 5)
    # away from the clipping at 1 and 5 the oracle is the partners' mean, and the partners differ
    np.testing.assert_allclose(both.mean(axis=-1)[unclipped], mean[unclipped], rtol=1e-9, atol=1e-9)
    assert np.abs(both[..., 0] - both[..., 1]).mean() > 0.05
