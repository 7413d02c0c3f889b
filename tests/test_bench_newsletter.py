"""``python -m bench newsletter``'s driver: which modes run, and a child's progress shown as it comes."""

from __future__ import annotations

import argparse
import sys

import pytest

from bench.newsletter import _modes, _run_child


def test_modes_take_a_subset_in_the_order_given():
    assert _modes("dask") == ("dask",)
    assert _modes(" dask , in_process ") == ("dask", "in_process")


@pytest.mark.parametrize("text", ["", "threads", "dask,gpu"])
def test_modes_refuse_anything_else_and_say_what_is_allowed(text):
    with pytest.raises(argparse.ArgumentTypeError, match="subset of in_process, dask"):
        _modes(text)


def test_a_childs_progress_is_passed_through_and_its_row_kept(capsys):
    child = ("import sys; print('in-process: 2,000 of 4,000 couples', file=sys.stderr, flush=True); "
             "print('{\"couples\": 4000}')")
    code, stdout, tail = _run_child([sys.executable, "-c", child])
    assert code == 0
    assert stdout.strip() == '{"couples": 4000}'
    assert tail == ["in-process: 2,000 of 4,000 couples"]
    assert "2,000 of 4,000 couples" in capsys.readouterr().err


def test_a_failing_childs_last_lines_are_kept_for_the_error_row():
    code, stdout, tail = _run_child([sys.executable, "-c", "raise SystemExit('no catalog at /nowhere')"])
    assert code == 1 and stdout == ""
    assert tail[-1] == "no catalog at /nowhere"


@pytest.mark.slow
def test_the_end_to_end_run_sends_every_couple_and_records_its_speed_beside_the_reference(tmp_path):
    import joblib

    from bench.newsletter import _REPO, _end_to_end
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel

    catalog = load_catalog(_REPO / "data")
    joblib.dump(EnjoymentModel(max_iter=30).fit(simulate(200, seed=0, catalog=catalog).dates, catalog),
                tmp_path / "model.joblib")
    args = argparse.Namespace(e2e=120, model=str(tmp_path / "model.joblib"), catalog=str(_REPO / "data"),
                              k=3, chunk_size=50, workers=0)
    out = _end_to_end(args)
    run = out["in_process"]
    assert run["couples"] == 120 and run["picks"] == 360 and "dask_2_workers" not in out
    assert out["numpy_reference"]["couples"] == 120
    # how many times faster the reference is: its couples/s over the run's (from the unrounded seconds)
    expected = out["numpy_reference"]["couples_per_second"] / run["couples_per_second"]
    assert run["numpy_reference_over_this"] == pytest.approx(expected, rel=0.02)
    assert run["numpy_reference_over_this"] > 1
