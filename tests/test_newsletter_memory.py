"""A chunk's freed arrays are reused by its next block, also under a Dask worker's allocator settings."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from engine.newsletter.memory import _LIBC

# 19 arrays of 24 MB, each allocated, written and freed, as a chunk's blocks are: the minor page
# faults counted outside reusing_freed_memory() and inside it (after one first array), in a
# process started as Dask starts its workers (MALLOC_TRIM_THRESHOLD_ set, which pins glibc's mmap threshold at 128 KiB)
_PROBE = textwrap.dedent("""
    import resource
    import numpy as np
    from engine.newsletter.memory import reusing_freed_memory

    def faults(arrays):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(arrays):
            a = np.empty(3_000_000)
            a.fill(1.0)
            del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    plain = faults(19)
    with reusing_freed_memory() as tuned:
        faults(1)  # the first block's memory is new
        inside = faults(19)
    after = faults(19)
    print(plain, inside, after, tuned)
""")


@pytest.mark.skipif(_LIBC is None, reason="the allocator is tuned on glibc only")
def test_blocks_reuse_freed_memory_under_a_dask_workers_allocator_settings():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True,
                         env={"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": "/usr/bin:/bin"}).stdout.split()
    plain, inside, after, tuned = int(out[0]), int(out[1]), int(out[2]), out[3]
    assert tuned == "True"
    # pinned threshold: each array is new memory from the kernel, every page faulted in (numpy asks
    # for huge pages, 2 MB each, where the kernel gives them: at least 12 faults an array either way)
    assert plain >= 19 * 12
    assert inside < 19  # the first array's pages, reused: not one fault an array
    assert after >= 19 * 12  # then the worker's own settings again, for its other tasks


def test_a_chunk_plans_on_one_blas_thread_and_tuned_memory(monkeypatch):
    """What ``plan_picks`` sees inside a chunk, in process as on a worker: one BLAS thread each
    (spinning BLAS threads doubled an in-process run's CPU for the same wall time)."""
    from threadpoolctl import threadpool_info

    import engine.newsletter.chunks as chunks
    from engine.newsletter.chunks import ChunkInput, _run_chunk

    seen = []

    def _plan(*args, **kwargs):
        seen.append([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"])
        return pd.DataFrame({"couple_id": []})

    monkeypatch.setattr(chunks, "plan_picks", _plan)
    result = _run_chunk(None, ChunkInput(0, ["c1"], pd.DataFrame()), dt.date(2026, 6, 1), 3, 0, None, False)
    assert seen and seen[0] and set(seen[0]) == {1}
    assert result.couple_ids == ["c1"] and not result.emails
