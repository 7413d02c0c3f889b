"""bench/peers.py: peer adapters rank in the evaluation's format; missing peers are skipped."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from bench.__main__ import main as bench_main
from bench.peers import (
    ImplicitALS,
    ImplicitItemKNN,
    LightFMWarp,
    Peer,
    SurpriseSVD,
    grid_models,
    main,
    run,
    table,
)
from engine.domain.catalog import load_catalog
from engine.lab.simulator import simulate


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _checkerboard(catalog) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Two taste groups of 5 ideas each; every couple did 4 of its group's 5 ideas, rated 5."""
    ids = list(catalog.ids)
    group_a, group_b = ids[:5], ids[5:10]
    rows = []
    for c in range(40):
        group = group_a if c % 2 == 0 else group_b
        skipped = group[(c // 2) % 5]
        for idea in group:
            if idea != skipped:
                rows.append((f"c{c:02d}", idea, 5.0))
    # the test couple did the first four ideas of group A
    rows += [("t", idea, 5.0) for idea in group_a[:4]]
    dates = pd.DataFrame(rows, columns=["couple_id", "idea_id", "rating_a"])
    dates["rating_b"] = np.nan
    dates["done_on"] = pd.NaT
    return dates, group_a, group_b


ADAPTERS = {
    "implicit_cosine": ("implicit", lambda: ImplicitItemKNN(similarity="cosine", K=10)),
    "implicit_bm25": ("implicit", lambda: ImplicitItemKNN(similarity="bm25", K=10)),
    "implicit_als": ("implicit", lambda: ImplicitALS(factors=2, regularization=0.1, alpha=10.0)),
    "lightfm_warp": ("lightfm", lambda: LightFMWarp(no_components=8, epochs=50)),
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_ranks_the_missing_idea_of_the_couples_group_first(name, catalog):
    library, factory = ADAPTERS[name]
    # implicit and surprise come with `make test` (the bench extra); LightFM cannot be pip-installed
    pytest.importorskip(library, reason=f"{library} is not installed; docs/peers.md says how")
    dates, group_a, group_b = _checkerboard(catalog)
    model = factory().fit(dates, catalog)
    exclude = {"t": set(group_a[:4])}
    (ranked,) = model.recommend(["t"], k=5, exclude=exclude, history=dates)
    ideas = [i for i, _ in ranked]
    assert ideas[0] == group_a[4]
    assert not exclude["t"] & set(ideas)
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(i, str) and isinstance(s, float) for i, s in ranked)


def test_surprise_svd_scores_match_surprise_predictions(catalog):
    pytest.importorskip("surprise", reason="scikit-surprise is not installed: pip install -e '.[bench]'")
    dates, group_a, _ = _checkerboard(catalog)
    dates.loc[dates["idea_id"] == group_a[0], "rating_a"] = 2.0
    model = SurpriseSVD(n_factors=4, n_epochs=10).fit(dates, catalog)
    scores = model.score(["c00", "t"])
    for r, couple in enumerate(["c00", "t"]):
        for idea in [group_a[0], group_a[3], catalog.ids[20]]:  # the last was never rated
            j = list(catalog.ids).index(idea)
            assert scores[r, j] == pytest.approx(model.model_.predict(couple, idea, clip=False).est)


def test_surprise_svd_needs_ratings(catalog):
    pytest.importorskip("surprise", reason="scikit-surprise is not installed: pip install -e '.[bench]'")
    dates, _, _ = _checkerboard(catalog)
    dates["rating_a"] = np.nan
    with pytest.raises(ValueError, match="SurpriseSVD needs rated dates"):
        SurpriseSVD().fit(dates, catalog)


def test_adapter_rejects_a_bad_parameter_naming_it(catalog):
    dates, _, _ = _checkerboard(catalog)
    with pytest.raises(ValueError, match="similarity must be 'cosine' or 'bm25', got 'jaccard'"):
        ImplicitItemKNN(similarity="jaccard").fit(dates, catalog)
    with pytest.raises(ValueError, match="factors must be an integer >= 1, got 0; try 64"):
        ImplicitALS(factors=0).fit(dates, catalog)


def test_grid_models_labels_every_point():
    peer = Peer("knn", "implicit", partial(ImplicitItemKNN, similarity="bm25"),
                {"K": [5, 10], "K1": [1.2]})
    models = grid_models([peer])
    assert list(models) == ["knn[K=5,K1=1.2]", "knn[K=10,K1=1.2]"]
    name, params, factory = models["knn[K=10,K1=1.2]"]
    assert (name, params) == ("knn", {"K": 10, "K1": 1.2})
    assert factory().get_params()["K"] == 10


@pytest.mark.slow
def test_run_evaluates_installed_peers_and_reports_missing_ones_as_skipped(catalog):
    pytest.importorskip("implicit", reason="implicit is not installed: pip install -e '.[bench]'")
    world = simulate(60, seed=3, catalog=catalog)
    peers = [
        Peer("implicit_cosine", "implicit", partial(ImplicitItemKNN, similarity="cosine"), {"K": [5, 50]}),
        Peer("ghost", "no_such_peer_library_xyz", ImplicitALS, {"factors": [8]}),
    ]
    result = run(world, name="tiny", relevant=4, k=10, seeds=1, peers=peers, engine=False, progress=False)
    assert set(result["models"]) == {"implicit_cosine[K=5]", "implicit_cosine[K=50]"}
    assert "no_such_peer_library_xyz is not installed" in result["skipped"]["ghost"]
    best = result["best"]["implicit_cosine"]
    assert result["models"][best]["ndcg"] == max(v["ndcg"] for v in result["models"].values())
    for values in result["models"].values():
        assert 0 <= values["ndcg"] <= 1 and 0 < values["coverage"] <= 1
        assert values["fit_seconds"] >= 0 and values["peak_mib"] >= 0
        assert values["kind"] == "peer"
    text = table(result)
    assert "skipped ghost: no_such_peer_library_xyz is not installed" in text
    assert best in text


def test_main_rejects_an_unknown_peer(capsys):
    with pytest.raises(SystemExit):
        main(["--peers", "implicit_als,nope", "--out", "-"])
    assert "--peers: unknown ['nope']" in capsys.readouterr().err


def test_bench_dispatch_names_unknown_benchmarks(capsys):
    assert bench_main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "peers" in err
