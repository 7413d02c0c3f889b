"""Weeks of dates: the simulated couples' dynamics (engine.lab.weekly) and the closed loop (engine.lab.loop)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from engine import load_catalog
from engine.lab.loop import METRICS, run_loop
from engine.lab.simulator import simulate
from engine.lab.weekly import SAT_BETA, Weeks


@pytest.fixture(scope="module")
def world():
    return simulate(60, seed=2, catalog=load_catalog())


def test_the_weeks_start_where_the_history_ends(world):
    weeks = Weeks(world)
    st = world._state
    # the last-20 window rebuilt from the dates is the simulator's own
    assert (weeks.recent == st.recent).all()
    assert (weeks.recent_len == np.minimum(world.dates.groupby("couple_id").size().to_numpy(), 20)).all()
    assert (weeks.counts == st.counts).all()
    last = world.dates.groupby("couple_id")["done_on"].max().to_numpy().astype("datetime64[D]")
    assert (weeks.day == last + np.timedelta64(7, "D")).all()


def test_each_partner_enjoys_with_their_own_offset(world):
    weeks = Weeks(world)
    ctx = weeks.draw_context(np.random.default_rng(0))
    u_a, u_b = weeks.utilities(ctx)
    assert not np.allclose(u_a, u_b)
    # their mean is the one-shot oracle's utility (before clipping), under the same context
    from engine.domain.context import SEASONS, WEATHERS, Context

    r = 0
    oracle = world.expected_enjoyment([world.couple_ids[r]], context=Context(
        season=SEASONS[ctx.season[r]], weather=WEATHERS[ctx.weather[r]], day=ctx.day[r].astype(object)))[0]
    mean = (u_a[r] + u_b[r]) / 2
    inside = (mean > 1.05) & (mean < 4.95)
    assert np.allclose(np.clip(mean, 1, 5)[inside], oracle[inside], atol=1e-4)


def test_repeating_the_same_date_wears_satisfaction_down(world):
    weeks = Weeks(world)
    favourite = weeks.counts.argmax(axis=1)  # their most done idea, ten weeks running
    for week in range(10):
        rng = np.random.default_rng(week)
        ctx = weeks.draw_context(rng)
        u = weeks.utilities(ctx)
        weeks.step(favourite, *u, rng)
    assert (weeks.satisfaction < 0).all()
    # by then the window is at least half that category: the repetition term alone takes 0.1 a week
    share = weeks.recent[np.arange(weeks.n), weeks.cat[favourite]] / weeks.recent_len
    assert (share >= 0.5).all()
    assert SAT_BETA * share.min() >= 0.1


def test_a_new_date_both_enjoy_raises_satisfaction(world):
    weeks = Weeks(world)
    rng = np.random.default_rng(1)
    ctx = weeks.draw_context(rng)
    u_a, u_b = weeks.utilities(ctx)
    fresh = (weeks.recent[:, weeks.cat] == 0) & (weeks.counts == 0)  # never done, a kind not in the window
    low = np.minimum(np.clip(u_a, 1, 5), np.clip(u_b, 1, 5))
    chosen = np.where(fresh, low, -np.inf).argmax(axis=1)
    record = weeks.step(chosen, u_a, u_b, rng)
    both = np.minimum(record["enjoyment_a"], record["enjoyment_b"]) > 3
    assert both.sum() > 40
    assert (record["satisfaction"][both] > 0).all()
    assert record["outside"][both].mean() > 0.9


def test_run_loop_refuses_bad_arguments():
    with pytest.raises(ValueError, match="weeks must be an integer >= 1, got 0"):
        run_loop(weeks=0)
    with pytest.raises(ValueError, match="unknown policy 'netflix'; choose from engine, "):
        run_loop(policies=("netflix",))


@pytest.mark.slow
def test_the_loop_gives_the_design_shape_and_known_orderings(tmp_path):
    result = run_loop(weeks=3, couples=60, seeds=1, retrain_every=2, progress=False,
                      policies=("engine", "engine_routine_weight_0", "random", "oracle"))
    assert {"weeks", "couples", "seeds", "policies"} <= set(result)
    assert result["weeks"] == 3 and result["couples"] == 60 and result["seeds"] == 1
    policies = result["policies"]
    for values in policies.values():
        assert set(METRICS) <= set(values)
        assert 1 <= values["enjoyment_less_happy"] <= values["enjoyment"] <= 5
        assert all(len(values["per_seed"][m]) == 1 for m in METRICS)
        assert len(values["weekly"]["enjoyment"]) == 3
        lo, hi = values["interval95"]["enjoyment"]
        assert lo <= values["enjoyment"] <= hi
    # the oracle knows the truth; random does not
    assert policies["oracle"]["enjoyment"] > policies["engine"]["enjoyment"] > policies["random"]["enjoyment"] + 0.3
    # breaking the routine is what routine_weight / routine_push buy
    assert policies["engine"]["outside_routine"] > policies["engine_routine_weight_0"]["outside_routine"] + 0.2
    # both retrains went through the product's train-and-gate (on 60 couples the gate may refuse them:
    # the loop then keeps serving the model it has)
    retrains = policies["engine"]["retrains"]
    assert retrains["trained"] == 2 and 0 <= retrains["promoted"] <= 2
    json.dumps(result)  # JSON-ready


def test_the_cli_loop_needs_simulated_couples():
    from engine.commands.evaluate import evaluate

    out = CliRunner().invoke(evaluate, ["--loop", "--data", "."])
    assert out.exit_code == 2
    assert "--loop needs simulated couples" in out.output
