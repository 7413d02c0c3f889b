"""Spreadsheet formula injection (issue 16, item 7): every CSV export neutralises text cells, reversibly."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.domain.csvcells import neutralise_cell, neutralise_frame, restore_cell, restore_frame


@pytest.mark.parametrize("value, written", [
    ('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ("+1", "'+1"), ("-2", "'-2"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("'x", "''x"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (-0.5, -0.5), (None, None),
])
def test_neutralise_cell_known_answers_and_restore_is_exact(value, written):
    assert neutralise_cell(value) == written
    assert restore_cell(neutralise_cell(value)) == value


def test_neutralise_frame_leaves_numbers_and_the_callers_frame_alone():
    frame = pd.DataFrame({"id": ["=1", "ok"], "score": [-0.25, 1.0], "rank": [1, 2]})
    out = neutralise_frame(frame)
    assert list(out["id"]) == ["'=1", "ok"] and list(frame["id"]) == ["=1", "ok"]
    assert out.to_csv(index=False, lineterminator="\n") == "id,score,rank\n'=1,-0.25,1\nok,1.0,2\n"
    assert list(restore_frame(out)["id"]) == ["=1", "ok"]
