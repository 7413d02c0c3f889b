"""Known-answer tests of places: idea locations, a couple's home, the distance features, the ranking."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.app.recommender import Recommender
from engine.domain.catalog import check_catalog, load_catalog
from engine.domain.context import Context
from engine.domain.dates import CoupleDates
from engine.domain.geo import distances_km, format_location, parse_location
from engine.domain.profiles import Profile, from_couples, from_record
from engine.learning.features import FEATURE_NAMES, HistoryFeaturizer
from engine.learning.model import EnjoymentModel

DIST, NEAR = FEATURE_NAMES.index("distance"), FEATURE_NAMES.index("nearby")

#: two towns ~111 km apart (one degree of latitude), ideas spread within 0-4 km of each centre
_TOWNS = {"north": (23.0, -100.0), "south": (22.0, -100.0)}
_KINDS = ("food", "walk", "music", "games")


def test_parse_and_format_a_location():
    assert parse_location("22.1498, -100.9792") == (22.1498, -100.9792)
    assert parse_location([10, 20.5]) == (10.0, 20.5)
    assert parse_location("") is None and parse_location(None) is None and parse_location(float("nan")) is None
    assert format_location((22.1498, -100.97921234)) == "22.1498,-100.979212"
    assert format_location((1.0, -2.0)) == "1,-2"
    for bad in ("north", "22.1", "1,2,3", "91,0", "0,-181", "nan,1", (True, 1), 5):
        with pytest.raises(ValueError, match=r"latitude,longitude.*-90 to 90.*-180 to 180"):
            parse_location(bad)


def test_distances_are_great_circle_km():
    # one degree along the equator and along a meridian: 2 * pi * 6371 / 360 = 111.19 km
    d = distances_km(np.array([[0.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(d, [[111.195, 111.195, 0.0]], atol=1e-3)
    paris, london = (48.8566, 2.3522), (51.5074, -0.1278)
    assert distances_km(np.array([paris]), np.array([london]))[0, 0] == pytest.approx(343.5, abs=0.5)
    assert np.isnan(distances_km(np.array([[np.nan, np.nan]]), np.array([london]))).all()


def test_a_profile_states_a_home():
    assert from_record({"home": "22.15,-100.98", "kids": True}) == Profile(home=(22.15, -100.98))
    assert Profile(home="1,2") and not Profile(home="")
    couples = pd.DataFrame({"id": ["a", "b"], "home": ["22.15,-100.98", ""]})
    assert from_couples(couples) == {"a": Profile(home=(22.15, -100.98))}
    with pytest.raises(ValueError, match="latitude,longitude"):
        Profile(home="downtown")


def _catalog(folder: Path, n: int = 40, unplaced: int = 0):
    """``n`` ideas split between the two towns (alternating), the last ``unplaced`` with no place."""
    rng = np.random.default_rng(0)
    schema = {"attributes": {"category": {"kind": "categorical", "values": list(_KINDS)},
                             "place": {"kind": "location"}}}
    rows = ["id,title,category,place"]
    for i in range(n):
        town = "north" if i % 2 == 0 else "south"
        lat, lon = np.add(_TOWNS[town], rng.uniform(-0.02, 0.02, 2))
        where = "" if i >= n - unplaced else f'"{lat:.5f},{lon:.5f}"'
        rows.append(f"i{i:02d},Idea {i},{_KINDS[i % 4]},{where}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (folder / "ideas.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_catalog(folder)


def test_a_catalog_location_is_checked_and_may_be_empty(tmp_path):
    catalog = _catalog(tmp_path / "ok", n=4, unplaced=1)
    assert catalog.schema["place"].kind == "location"
    assert parse_location(catalog.frame["place"].iloc[0]) is not None and pd.isna(catalog.frame["place"].iloc[3])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "schema.json").write_text(json.dumps({"attributes": {"place": {"kind": "location"}}}), encoding="utf-8")
    (bad / "ideas.csv").write_text('id,title,place\na,A,"95,10"\nb,B,downtown\n', encoding="utf-8")
    errors = check_catalog(bad).errors
    assert [(e.line, e.field) for e in errors] == [(2, "place"), (3, "place")]
    assert all("latitude,longitude" in e.message for e in errors)


def _dates(catalog, couples: dict[str, str], per_couple: int = 8, seed: int = 0) -> pd.DataFrame:
    """Each couple does ``per_couple`` ideas of its own town and rates them 1-5 at random."""
    rng = np.random.default_rng(seed)
    ids = catalog.ids
    town_of = np.array(["north" if i % 2 == 0 else "south" for i in range(len(ids))])
    rows = []
    for couple, town in couples.items():
        for j, idea in enumerate(rng.choice(ids[town_of == town], per_couple, replace=False)):
            rows.append({"couple_id": couple, "idea_id": idea, "done_on": f"2025-03-{j + 1:02d}",
                         "rating_a": int(rng.integers(1, 6)), "rating_b": int(rng.integers(1, 6))})
    return pd.DataFrame(rows)


def test_distance_features_measure_from_the_stated_home_or_the_places_been(tmp_path):
    catalog = _catalog(tmp_path / "cat", unplaced=2)
    dates = _dates(catalog, {f"n{k}": "north" for k in range(5)} | {f"s{k}": "south" for k in range(5)})
    feat = HistoryFeaturizer().fit(dates, catalog)
    places = np.array([parse_location(p) or (np.nan, np.nan) for p in catalog.frame["place"]])
    north, south = np.arange(0, 38, 2), np.arange(1, 38, 2)
    # a stated home: exactly min(km, 30) / 30 and exp(-km / 5) from it
    home = _TOWNS["north"]
    hist = feat.histories(dates.iloc[:0], ["new"], {"new": Profile(home=home)})
    F = feat.transform(hist)
    km = distances_km(np.array([home]), places[:38])[0]
    assert km[north].max() < 5 and km[south].min() > 100
    np.testing.assert_allclose(F[0, :38, DIST], np.minimum(km, 30) / 30, rtol=1e-5)
    np.testing.assert_allclose(F[0, :38, NEAR], np.exp(-km / 5.0), rtol=1e-5, atol=1e-7)
    # ideas with no place are at home
    np.testing.assert_array_equal(F[0, 38:, DIST], [0, 0]) and np.testing.assert_array_equal(F[0, 38:, NEAR], [1, 1])
    # no stated home: the middle of the places a south couple went to, so south ideas are near
    hist = feat.histories(dates, ["s0"])
    F = feat.transform(hist)
    assert F[0, south, NEAR].min() > 0.3 and F[0, north, NEAR].max() < 1e-6
    assert np.allclose(hist.homes[0], _TOWNS["south"], atol=0.03)
    # nothing known: the same 0 on every idea, which leaves the ranking alone
    F = feat.transform(feat.histories(dates.iloc[:0], ["nobody"]))
    assert not F[0, :, [DIST, NEAR]].any()


def test_a_model_trained_where_couples_stay_near_home_ranks_a_new_couples_town_first(tmp_path):
    """Couples only ever do ideas in their own town; given a home, a new couple's list is its town's
    ideas, and its reasons say how far from home they are; with no home the list mixes both towns
    (the features say nothing then)."""
    catalog = _catalog(tmp_path / "cat")
    couples = {f"n{k:02d}": "north" for k in range(40)} | {f"s{k:02d}": "south" for k in range(40)}
    dates = _dates(catalog, couples)
    profiles = {c: Profile(home=_TOWNS[t]) for c, t in couples.items()}
    model = EnjoymentModel(routine_weight=0.0, diversity=0.0).fit(dates, catalog, profiles)
    w = dict(zip(model.feature_names_, model.linear_weights_))
    # near is learned as better (nearby and its relative twin are collinear: their sum carries it)
    assert w["nearby"] + w["rel:nearby"] > 0 > w["distance"]
    town = {i: ("north" if int(i[1:]) % 2 == 0 else "south") for i in catalog.ids}
    for home in ("north", "south"):
        picks = model.recommend(["new"], k=10, history=dates.iloc[:0],
                                profiles={"new": Profile(home=_TOWNS[home])})[0]
        assert {town[i] for i, _ in picks} == {home}
    anywhere = model.recommend(["new"], k=10, history=dates.iloc[:0])[0]
    assert {town[i] for i, _ in anywhere} == {"north", "south"}
    # tonight's answer says how near the idea is, from the stated home; without one it cannot
    rec = Recommender(model, "v-test")
    home = _TOWNS["north"]
    picks = rec.tonight("new", CoupleDates("new", (), Profile(home=home)), Context(day=dt.date(2025, 6, 1)), k=3)
    places = {i: parse_location(p) for i, p in zip(catalog.ids, catalog.frame["place"])}
    for s in picks:
        km = distances_km(np.array([home]), np.array([places[s.idea_id]]))[0, 0]
        said = "under a kilometre from home" if km < 1 else f"{km:.1f} km from home"
        assert said in s.reasons, s.reasons
    picks = rec.tonight("new", CoupleDates("new", (), Profile()), Context(day=dt.date(2025, 6, 1)), k=3)
    assert not any("from home" in r for s in picks for r in s.reasons)
