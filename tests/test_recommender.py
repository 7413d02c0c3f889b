"""The recommender facade's caches: exact memoisation for CoupleDates histories."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from engine.app.recommender import Recommender
from engine.domain.context import Context
from engine.domain.dates import CoupleDates
from engine.learning.model import EnjoymentModel

DAY = dt.date(2025, 6, 1)
_EPOCH = dt.date(1970, 1, 1)


@pytest.fixture(scope="module")
def recommender_factory(tiny_world):
    model = EnjoymentModel(max_iter=30).fit(tiny_world.dates, tiny_world.catalog)
    return lambda **kw: Recommender(model, "v-test", **kw)


def _rows(catalog, ratings):
    return tuple((str(catalog.ids[i]), (DAY - _EPOCH).days - 30 + i, float(r), None) for i, r in ratings)


def _dicts(picks):
    return [p.to_dict() for p in picks]


@pytest.mark.slow
def test_rows_rank_like_the_dates_frame_and_a_hit_equals_the_computation(recommender_factory, tiny_world):
    rec = recommender_factory()
    history = CoupleDates("c1", _rows(tiny_world.catalog, [(0, 5), (3, 4), (7, 1), (9, 2)]))
    ctx = Context(budget=2, day=DAY)
    weights = {str(tiny_world.catalog.ids[12]): 0.8}
    from_frame = rec.tonight("c1", history.frame(), ctx, k=4, recently_suggested=weights)
    first, hit_first = rec.tonight_cached("c1", history, ctx, k=4, recently_suggested=weights)
    again, hit_again = rec.tonight_cached("c1", CoupleDates("c1", tuple(history.rows)), ctx, k=4,
                                          recently_suggested=weights)
    assert (hit_first, hit_again) == (False, True)
    assert _dicts(from_frame) == _dicts(first) == _dicts(again)
    fresh = recommender_factory(cache_couples=0, cache_lists=0)
    assert _dicts(fresh.tonight("c1", history, ctx, k=4, recently_suggested=weights)) == _dicts(again)
    # what a caller does with its copy does not reach the cache
    again[0].rank, again[0].reasons[:] = 99, ["changed"]
    assert _dicts(rec.tonight("c1", history, ctx, k=4, recently_suggested=weights)) == _dicts(first)


def test_any_changed_input_is_computed_again(recommender_factory, tiny_world):
    rec = recommender_factory()
    catalog = tiny_world.catalog
    history = CoupleDates("c1", _rows(catalog, [(0, 5), (3, 4)]))
    ctx = Context(setting="home", day=DAY)
    top = rec.tonight("c1", history, ctx, k=3)[0].idea_id
    top_pos = int(catalog.position([top])[0])
    # the couple did the top idea yesterday and hated it: a new row, so no cached answer
    rated = CoupleDates("c1", history.rows + ((top, (DAY - _EPOCH).days - 1, 1.0, 1.0),))
    after, hit = rec.tonight_cached("c1", rated, ctx, k=3)
    assert not hit and after[0].idea_id != top and top_pos >= 0
    # another context, k, weights, day or couple: computed, not served from the cache
    for args, kwargs in [(("c1", rated, Context(setting="out", day=DAY)), {"k": 3}),
                         (("c1", rated, ctx), {"k": 4}),
                         (("c1", rated, ctx), {"k": 3, "recently_suggested": {after[0].idea_id: 1.0}}),
                         (("c1", rated, Context(setting="home", day=DAY + dt.timedelta(days=1))), {"k": 3}),
                         (("c2", CoupleDates("c2", rated.rows), ctx), {"k": 3})]:
        assert rec.tonight_cached(*args, **kwargs)[1] is False
    info = rec.cache_info()
    # the couple's scored ideas were reused across contexts of the same day and history
    assert info["scored_hits"] >= 3 and info["lists_hits"] == 0


def test_a_new_model_starts_with_empty_caches(recommender_factory, tiny_world):
    first = recommender_factory()
    history = CoupleDates("c1", _rows(tiny_world.catalog, [(0, 5)]))
    ctx = Context(day=DAY)
    first.tonight("c1", history, ctx)
    assert first.tonight_cached("c1", history, ctx)[1] is True
    assert recommender_factory().tonight_cached("c1", history, ctx)[1] is False


def test_a_pickled_recommender_answers_the_same_with_empty_caches(recommender_factory, tiny_world):
    """What the newsletter ships to Dask workers: the model travels, the caches (and their locks) do not."""
    import pickle

    rec = recommender_factory()
    history = CoupleDates("c1", _rows(tiny_world.catalog, [(0, 5), (3, 4)]))
    ctx = Context(day=DAY)
    answer = _dicts(rec.tonight("c1", history, ctx))
    copy = pickle.loads(pickle.dumps(rec))
    assert copy.cache_info() == {"lists_hits": 0, "lists_misses": 0, "scored_hits": 0, "scored_misses": 0}
    assert _dicts(copy.tonight("c1", history, ctx)) == answer
    assert copy.tonight_cached("c1", history, ctx)[1] is True


def test_the_scored_ideas_cache_keeps_the_couples_that_fit_its_memory(recommender_factory, monkeypatch):
    import engine.app.recommender as recommender_module

    model = recommender_factory().model
    per_couple = len(model.catalog_) * (2 * 8 + len(model.feature_names_) * 4 + 11 * 8)
    assert recommender_factory()._scored.size == 64  # a small catalog: the count asked for
    monkeypatch.setattr(recommender_module, "SCORED_CACHE_BYTES", 3 * per_couple + 1)
    assert recommender_factory()._scored.size == 3
    assert recommender_factory(cache_couples=2)._scored.size == 2
    monkeypatch.setattr(recommender_module, "SCORED_CACHE_BYTES", per_couple // 2)
    assert recommender_factory()._scored.size == 1  # never none while the cache is on
    assert recommender_factory(cache_couples=0)._scored.size == 0


def test_a_batch_scored_in_blocks_gives_what_one_pass_gives(recommender_factory, tiny_world, monkeypatch):
    """Large batches are scored a block of couples at a time (``_BLOCK_CELLS``): the same picks,
    scores and reasons as one pass, with the frame's rows shuffled and rows of other couples in it."""
    import engine.app.recommender as module

    dates = tiny_world.dates.sample(frac=1.0, random_state=4)  # couples' rows interleaved
    couples = [str(c) for c in tiny_world.couples["id"][:23]][::-1]  # not in the frame's order
    exclude = {couples[2]: {str(tiny_world.catalog.ids[0])}}
    rec = recommender_factory()
    ctx = Context(budget=2, day=DAY)
    monkeypatch.setattr(module, "_BLOCK_CELLS", 10**9)
    one_pass = rec.batch(dates, couples, ctx, k=4, exclude=exclude)
    blocks = []
    monkeypatch.setattr(module, "_BLOCK_CELLS", 5 * len(tiny_world.catalog))  # 5 couples a block: 5 blocks
    real_rank = rec.model.rank
    monkeypatch.setattr(rec.model, "rank", lambda dates, ids, *a, **kw: blocks.append(list(ids)) or
                        real_rank(dates, ids, *a, **kw))
    in_blocks = rec.batch(dates, couples, ctx, k=4, exclude=exclude)
    assert blocks == [couples[i:i + 5] for i in range(0, 23, 5)]
    assert list(in_blocks) == couples == list(one_pass)
    assert {c: _dicts(p) for c, p in in_blocks.items()} == {c: _dicts(p) for c, p in one_pass.items()}
    assert str(tiny_world.catalog.ids[0]) not in {p.idea_id for p in in_blocks[couples[2]]}


def test_a_deep_list_gives_each_window_the_reasons_a_batch_gives_and_caches_no_catalog_arrays(
        recommender_factory, tiny_world):
    import gc

    import engine.app.recommender as recommender_module

    catalog = tiny_world.catalog
    history = CoupleDates("c1", _rows(catalog, [(0, 5), (3, 4), (7, 1), (9, 2), (12, 5)]))
    ctx = Context(day=DAY)
    depth = len(catalog)
    # every place of the full list explained at once, as the newsletter's batch does
    everything = recommender_factory(cache_couples=0, cache_lists=0).batch(
        history, ["c1"], ctx, k=depth, distinct_categories=False,
        seeds=[recommender_module._stable_seed("c1", DAY.isoformat())])["c1"]
    assert len(everything) > 20
    rec = recommender_factory(cache_couples=0)  # the list cache only
    window, offset, hit = rec.tonight_window("c1", history, ctx, depth, 10, 3)
    assert (offset, hit) == (10, False)
    assert _dicts(window) == _dicts(everything[10:13])
    later, _, hit = rec.tonight_window("c1", history, ctx, depth, 13, 3)
    assert hit and _dicts(later) == _dicts(everything[13:16])
    # a caller changing its copy leaves the cached, explained list as it was
    later[0].reasons[:] = ["changed"]
    assert _dicts(rec.tonight_window("c1", history, ctx, depth, 13, 3)[0]) == _dicts(everything[13:16])
    # what the list cache keeps reaches no array: a couple's histories are as long as the catalog
    # (kept there, a 50,000-idea worker grew by ~5 MB a fresh request)
    seen, todo, arrays = set(), [rec._ranked._data], 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        arrays += isinstance(obj, np.ndarray)
        todo.extend(gc.get_referents(obj))
    assert len(rec._ranked._data) == 1 and len(seen) > 50 and arrays == 0
