"""Any ratings data in the import format (issue 23): catalogs without attributes, usage counts,
the relevance threshold the user sets, undated data fitted once. Known answers on small data."""

from __future__ import annotations

import json
import logging
from functools import partial

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engine.app.training import target_params
from engine.cli import main
from engine.domain.catalog import Catalog, check_catalog
from engine.domain.dataset import Dataset, read_dataset, write_dataset
from engine.domain.dates import as_dates_frame
from engine.domain.schema import Schema
from engine.lab.baselines import MostPopular
from engine.lab.evaluation import evaluate, split_dates
from engine.learning.features import IdeaEncoder
from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry


def _bare_catalog(n: int) -> Catalog:
    """Ids and titles only: an empty schema."""
    frame = pd.DataFrame({"title": [f"Idea {i}" for i in range(n)], "description": ""},
                         index=pd.Index([f"i{i:02d}" for i in range(n)], name="id"))
    return Catalog(frame, Schema.from_dict({"attributes": {}}))


def _two_groups(n_couples: int = 80, seed: int = 0) -> pd.DataFrame:
    """Checkerboard: even couples do ideas 0-14, odd couples ideas 15-29 (undated)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_couples):
        group = c % 2
        for i in rng.choice(15, 6, replace=False) + 15 * group:
            rows.append((f"c{c:03d}", f"i{i:02d}", 5 if rng.random() < 0.6 else 2))
    return as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "rating"]))


# --------------------------------------------------------------------------- no attributes

def test_encoder_of_a_catalog_without_attributes_is_zero_width():
    encoder = IdeaEncoder().fit(_bare_catalog(5))
    assert encoder.content_features_ is False
    assert encoder.transform(_bare_catalog(5)).shape == (5, 0)
    assert list(encoder.get_feature_names_out()) == []


def test_without_attributes_the_engine_ranks_from_what_similar_couples_did(tmp_path):
    catalog, dates = _bare_catalog(30), _two_groups()
    model = EnjoymentModel(random_state=0).fit(dates, catalog)
    assert model.content_features_ is False
    for couple, group in (("c000", range(0, 15)), ("c001", range(15, 30))):
        done = set(dates.loc[dates["couple_id"] == couple, "idea_id"])
        [top] = model.recommend([couple], k=5, exclude={couple: done})
        assert {int(i[1:]) for i, _ in top} <= set(group), top  # the couple's own block, not the other
    version = Registry(tmp_path / "models").save(model)
    card = json.loads((tmp_path / "models" / version / "card.json").read_text())
    assert card["content_features"] is False
    # what "auto" chose for an attribute-less catalog whose dates are not long-tailed
    assert card["auto"] == {"learner": "linear", "negatives": 6, "popular_negatives": 0.2, "factor_alpha": 1.0,
                            "breadth": 0.25}


@pytest.mark.slow
def test_catalog_check_and_evaluate_agree_on_a_catalog_without_attributes(tmp_path):
    catalog = _bare_catalog(30)
    catalog.frame["description"] = "An idea."
    write_dataset(tmp_path, catalog, _two_groups())
    assert check_catalog(tmp_path).errors == []
    result = CliRunner().invoke(main, ["evaluate", "--data", str(tmp_path), "--seeds", "1", "--json",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.output[result.output.index("{"):])["models"]
    assert models["engine"]["ndcg"] > 2 * models["random"]["ndcg"]
    assert "routine_distance" not in models["engine"]  # no content, no content distance


# --------------------------------------------------------------------------- counts

def test_counts_become_each_couples_own_quantiles():
    from engine.domain.dataset import ratings_from_counts

    couples = np.array(["a"] * 5 + ["b"] * 5 + ["c"] * 3 + ["d"])
    counts = np.array([1, 2, 3, 4, 10, 500, 100, 300, 200, 400, 7, 7, 7, 42], dtype=float)
    got = ratings_from_counts(couples, counts)
    # a light user and a heavy user alike: most used first, on the whole 1-5 scale
    assert got.tolist() == [1, 2, 3, 4, 5, 5, 1, 3, 2, 4, 3, 3, 3, 3]  # equal or alone: the middle
    assert ratings_from_counts(["a"] * 3, [1.0, 2.0, 3.0], scale=(0, 2)).tolist() == [0, 1, 2]
    assert np.isnan(ratings_from_counts(["a", "a"], [np.nan, 3.0])[0])


def _counts_folder(tmp_path, counts: list[int]):
    catalog = _bare_catalog(len(counts))
    catalog.frame["description"] = "An idea."
    usage = pd.DataFrame({"couple_id": "c0", "idea_id": catalog.ids, "count": counts})
    write_dataset(tmp_path, catalog, usage)
    return tmp_path


def test_dates_with_counts_rank_the_most_used_first_and_are_relevant(tmp_path):
    counts = [3, 1, 40, 2, 9, 12, 5, 80, 4, 6]
    data = read_dataset(_counts_folder(tmp_path, counts))
    assert data.counts
    ratings = data.dates["rating_a"].to_numpy()
    by_count = np.argsort(counts)
    assert np.all(np.diff(ratings[by_count]) >= 0)  # more used, rated at least as high
    assert {f"i{i:02d}" for i in np.flatnonzero(ratings == 5)} == {"i07", "i02"}  # 80 and 40 uses
    # evaluate's default relevance (the top of the scale) is the couple's most used fifth
    split = split_dates(data.dates, seed=0, test_share=0.5)
    relevant = {i for i, r in split.test["c0"].items() if r >= data.rating_scale[1]}
    assert relevant == {"i07", "i02"} & set(split.test["c0"])


def test_a_bad_count_is_refused_with_what_is_allowed(tmp_path):
    folder = _counts_folder(tmp_path, [1, 2, 3])
    (folder / "dates.csv").write_text("couple_id,idea_id,count\nc0,i00,2\nc0,i01,0\nc0,i02,lots\n")
    result = CliRunner().invoke(main, ["evaluate", "--data", str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert "dates.csv:3: count: count must be a number > 0" in result.output
    assert "dates.csv:4: count: count must be a number > 0" in result.output and "'lots'" in result.output
    (folder / "dates.csv").write_text("couple_id,idea_id,rating,count\nc0,i00,2,3\n")
    result = CliRunner().invoke(main, ["evaluate", "--data", str(folder), "--no-progress"])
    assert "give either ratings (rating or rating_a/rating_b) or count, not both" in result.output


def test_a_second_count_for_the_same_couple_and_idea_is_refused_naming_both_lines(tmp_path):
    folder = _counts_folder(tmp_path, [1, 2, 3])
    (folder / "dates.csv").write_text("couple_id,idea_id,count\nc0,i00,2\nc0,i01,5\nc1,i00,1\nc0,i00,4\n")
    result = CliRunner().invoke(main, ["evaluate", "--data", str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert ("dates.csv:5: count: couple 'c0' and idea 'i00' already have a count (line 2); usage data "
            "has one row per couple and idea: add the counts together") in result.output
    assert "dates.csv:4" not in result.output  # another couple's use of the same idea is its own row


# --------------------------------------------------------------------------- the relevance the user sets

def _pleasant_and_loved(n_couples: int = 150, seed: int = 0) -> Dataset:
    """Ideas 0-19 are pleasant (every couple rates them 4, done twice as often), 20-39 loved (5)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_couples):
        rows += [(f"c{c:03d}", f"i{i:02d}", 4) for i in rng.choice(20, 6, replace=False)]
        rows += [(f"c{c:03d}", f"i{i:02d}", 5) for i in 20 + rng.choice(20, 3, replace=False)]
    dates = as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "rating"]))
    return Dataset(catalog=_bare_catalog(40), dates=dates,
                   couples=pd.DataFrame({"id": dates["couple_id"].unique()}), rating_scale=(1.0, 5.0))


@pytest.mark.slow
def test_the_relevance_scored_is_the_relevance_trained():
    data = _pleasant_and_loved()
    # the training target alone: without the list's reach into less done ideas and the negatives
    # drawn by popularity (both "auto" on this attribute-less catalog), which lift loved ideas either way
    engine = partial(EnjoymentModel, breadth=0.0, popular_negatives=0.0)
    fixed_at_four = partial(engine, relevant_rating=4.0)
    result = evaluate(data, {"engine": engine, "trained_for_4": fixed_at_four},
                      seeds=1, relevant=5, progress=False)["models"]
    # only a 5 is relevant: trained for it, the engine fills the top 10 with loved ideas (the
    # held-out one is among the 17 loved it has not done: recall about 10/17); trained for
    # "4 or more" it follows the more popular pleasant ones and finds almost none
    assert result["engine"]["recall"] > 0.5
    assert result["trained_for_4"]["recall"] < 0.1


def test_train_takes_the_relevance_from_the_option_or_the_schema():
    catalog = _bare_catalog(3)
    assert target_params(catalog) == {}
    assert target_params(catalog, 5) == {"relevant_rating": 5.0}
    rated = Catalog(catalog.frame, Schema.from_dict({"attributes": {},
                                                     "ratings": {"min": 0, "max": 2, "relevant": 2}}))
    assert target_params(rated) == {"rating_scale": (0.0, 2.0), "relevant_rating": 2.0}
    with pytest.raises(ValueError, match="relevant must be a rating from 0 to 2"):
        target_params(rated, 4)


def test_schema_relevant_is_evaluates_default(tmp_path, monkeypatch):
    from engine.lab import evaluation

    seen = {}
    monkeypatch.setattr(evaluation, "default_models", lambda engine=True: {"popular": MostPopular})
    monkeypatch.setattr(evaluation, "evaluate", lambda source, models, **kw: seen.update(kw) or
                        {"dataset": "x", "k": 10, "models": {"popular": {"ndcg": 0.0}}})
    data = _pleasant_and_loved(20)
    write_dataset(tmp_path, Catalog(data.catalog.frame.assign(description="An idea."), Schema.from_dict(
        {"attributes": {}, "ratings": {"min": 1, "max": 5, "relevant": 4}})), data.dates)
    assert read_dataset(tmp_path).relevant_rating == 4.0
    result = CliRunner().invoke(main, ["evaluate", "--data", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen["relevant"] == 4.0


# --------------------------------------------------------------------------- undated: fit once

@pytest.mark.slow
def test_undated_data_fits_the_engine_once_and_says_why(caplog):
    data = _pleasant_and_loved(60)
    fits = []

    class Counting(EnjoymentModel):
        def fit(self, *args, **kwargs):
            fits.append(self.training_history)
            return super().fit(*args, **kwargs)

    with caplog.at_level(logging.INFO, logger="engine.lab.evaluation"):
        result = evaluate(data, {"engine": Counting, "engine_loo": partial(Counting, training_history="others"),
                                 "popular": MostPopular}, seeds=2, relevant=5, progress=False)
    assert fits == ["before", "before"]  # once per seed
    assert set(result["models"]) == {"engine", "popular"}
    assert "no dates" in result["notes"][0] and "fitted once per seed" in result["notes"][0]
    assert any("engine_loo skipped" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- memory at catalog scale

@pytest.mark.slow
def test_the_bounded_memory_path_ranks_exactly_as_the_dense_one(monkeypatch):
    from engine.lab.simulator import simulate
    from engine.learning import features, sampling, similarity
    from engine.learning.similarity import RowSimilarity

    world = simulate(120, seed=2)
    couples = list(world.couple_ids[:40])

    def lists():
        fitted = EnjoymentModel(random_state=0).fit(world.dates, world.catalog)
        return fitted, fitted.recommend(couples, k=10)

    dense, expected = lists()
    assert isinstance(dense.idea_similarity_, np.ndarray)
    # a "large" catalog: similarity rows on demand, sparse products, ranking 3 couples a batch
    monkeypatch.setattr(similarity, "_DENSE_SIM_IDEAS", 10)
    monkeypatch.setattr(features, "_DENSE_IDEAS", 10)
    bounded, got = lists()
    assert isinstance(bounded.idea_similarity_, RowSimilarity)
    monkeypatch.setattr(sampling, "_BATCH_CELLS", 3 * len(world.catalog) * len(bounded.feature_names_))
    assert sampling.batch_rows(1000, len(world.catalog), len(bounded.feature_names_)) == 3
    assert [[i for i, _ in lst] for lst in bounded.recommend(couples, k=10)] == \
        [[i for i, _ in lst] for lst in expected]
    np.testing.assert_allclose([[s for _, s in lst] for lst in got], [[s for _, s in lst] for lst in expected],
                               rtol=1e-5)


# --------------------------------------------------------------------------- data too thin to learn or score

def _rated(n_couples: int, ideas_each: int, rating: float, n_ideas: int = 12) -> pd.DataFrame:
    rows = [(f"c{c:02d}", f"i{(c + j) % n_ideas:02d}", rating) for c in range(n_couples) for j in range(ideas_each)]
    return as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "rating"]))


def test_training_on_couples_with_two_ideas_each_says_three_are_needed():
    with pytest.raises(ValueError, match="at least 3 different rated ideas .* none of the 30 couples has"):
        EnjoymentModel().fit(_rated(30, 2, 5.0), _bare_catalog(12))


def test_training_where_no_rating_reaches_the_threshold_names_the_threshold_and_the_scale():
    with pytest.raises(ValueError, match=r"none relevant: no target's rating reaches the relevant rating 4 on "
                                         r"the scale 1-5; lower it"):
        EnjoymentModel(rating_scale=(1, 5)).fit(_rated(30, 5, 3.0), _bare_catalog(12))


def test_evaluate_refuses_data_where_no_held_out_rating_is_relevant_before_fitting_anything():
    data = Dataset(catalog=_bare_catalog(12), dates=_rated(30, 5, 3.0), couples=None)
    with pytest.raises(ValueError, match="no held-out rating reaches the relevant rating 5 .the highest is 3"):
        evaluate(data, {"popular": MostPopular}, seeds=1, relevant=5, progress=False)


# --------------------------------------------------------------------------- attributes some ideas leave empty

_GAPPY_SCHEMA = {"attributes": {
    "genre": {"kind": "categorical", "optional": True},
    "level": {"kind": "ordinal", "order": ["easy", "medium", "hard"], "optional": True},
    "length": {"kind": "numeric", "min": 0, "optional": True},
    "outdoor": {"kind": "boolean", "optional": True},
}}


def _gappy_folder(tmp_path, schema=_GAPPY_SCHEMA):
    """30 ideas; every third leaves all four attributes empty (public catalogs have such gaps)."""
    n = 30
    known = np.arange(n) % 3 != 0
    ideas = pd.DataFrame({
        "id": [f"i{i:02d}" for i in range(n)], "title": [f"Idea {i}" for i in range(n)],
        "genre": np.where(known, np.where(np.arange(n) < 15, "quiet", "loud"), ""),
        "level": np.where(known, np.array(["easy", "medium", "hard"])[np.arange(n) % 3], ""),
        "length": np.where(known, (np.arange(n) * 10 + 10).astype(str), ""),
        "outdoor": np.where(known, np.where(np.arange(n) % 2 == 0, "true", "false"), ""),
    })
    ideas.to_csv(tmp_path / "ideas.csv", index=False)
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    return tmp_path


def test_optional_attributes_may_be_empty_and_an_empty_cell_is_no_evidence(tmp_path):
    from engine.domain.catalog import load_catalog

    catalog = load_catalog(_gappy_folder(tmp_path))
    assert check_catalog(tmp_path).errors == []
    encoder = IdeaEncoder().fit(catalog)
    names = list(encoder.get_feature_names_out())
    V = encoder.transform(catalog)
    assert np.all(np.isfinite(V)) and V.shape == (30, len(names))
    raw = encoder.pipeline_.named_steps["columns"].transform(catalog.frame)  # before the row normalising
    col = {n: j for j, n in enumerate(names)}
    unknown, known = 0, 1  # i00 left every cell empty; i01 did not
    assert raw[unknown, col["genre__genre_quiet"]] == raw[unknown, col["genre__genre_loud"]] == 0  # no label
    assert raw[unknown, col["level__level"]] == 0.5 and raw[unknown, col["outdoor__outdoor"]] == 0.5
    logs = np.log1p(catalog.frame["length"].dropna().astype(float))  # log-scaled, then min-max
    median = (np.log1p(catalog.frame["length"].median()) - logs.min()) / (logs.max() - logs.min())
    assert raw[unknown, col["length__length"]] == pytest.approx(median)
    assert raw[known, col["genre__genre_quiet"]] == 1
    # and the engine learns and ranks on it as on a complete catalog
    model = EnjoymentModel(random_state=0).fit(_two_groups(), catalog)
    dates = _two_groups()
    done = set(dates.loc[dates["couple_id"] == "c001", "idea_id"])
    [top] = model.recommend(["c001"], k=5, exclude={"c001": done})
    assert {int(i[1:]) for i, _ in top} <= set(range(15, 30)), top
    # the promotion gate's short loop simulates couples on the live catalog: the gaps are one kind "?"
    from engine.lab.simulator import simulate

    world = simulate(40, seed=0, catalog=catalog)
    assert len(world.dates) > 100 and set(world.dates["idea_id"]) <= set(catalog.ids)


def test_an_empty_cell_of_a_required_attribute_says_it_may_be_marked_optional(tmp_path):
    schema = {"attributes": {k: {kk: vv for kk, vv in v.items() if kk != "optional"}
                             for k, v in _GAPPY_SCHEMA["attributes"].items()}}
    errors = [str(p) for p in check_catalog(_gappy_folder(tmp_path, schema)).errors]
    assert any("ideas.csv:2: length: empty value; length is required (a number of at least 0, or mark it "
               '"optional": true in schema.json)' in e for e in errors), errors[:3]


def test_an_attribute_a_hard_constraint_reads_cannot_be_optional(tmp_path):
    schema = {"attributes": {**_GAPPY_SCHEMA["attributes"], "cost": {"kind": "numeric", "optional": True}}}
    folder = _gappy_folder(tmp_path, schema)
    pd.read_csv(folder / "ideas.csv").assign(cost=1).to_csv(folder / "ideas.csv", index=False)
    errors = [str(p) for p in check_catalog(folder).errors]
    assert any("attribute 'cost' decides what may be offered (a hard constraint), so it cannot be optional"
               in e for e in errors), errors
