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
