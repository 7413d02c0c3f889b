"""Implicit alternating least squares (Hu, Koren & Volinsky 2008), shared by the engine and the lab.

:func:`solve_factors` solves one side given the other; :func:`als_sweeps` alternates
them; :func:`choose_alpha` picks the confidence weight on the data at hand. The engine's
featurizer uses them for its ``cf_factors`` feature (:mod:`engine.learning.features`); the
lab's :class:`~engine.lab.baselines.MatrixFactorization` baseline for its scores. They live
here, in production code, so that production never imports the lab.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ALPHAS", "als_sweeps", "choose_alpha", "solve_factors"]

#: confidence weights :func:`choose_alpha` tries. No one value suits every dataset: on the simulator's
#: worlds implicit ALS ranks best at 1, on a MovieLens-1M-sized world and on UCI at 10 (peers bench)
ALPHAS = (1.0, 2.0, 4.0, 8.0, 16.0)
#: validation couples (with a held-out liked idea) needed to choose; with fewer the first of ALPHAS
_MIN_VALIDATION = 200
#: couples drawn for validation at most (ALS is fitted on them alone), and the share of each one's
#: ideas held out
_VALIDATION_COUPLES, _HELD_OUT = 2_000, 0.2
#: another weight replaces the first of ALPHAS only when it ranks this much better
_MARGIN = 1.02


def solve_factors(C: sp.spmatrix | np.ndarray, Y: np.ndarray, regularization: float, alpha: float,
                  block: int = 4096, gram: np.ndarray | None = None) -> np.ndarray:
    """One side of implicit ALS: the factors of each row of ``C`` given the other side's ``Y``.

    ``C`` (rows x items, times done or weights) may be sparse or dense.

    Row ``u`` solves ``(Y'Y + Y' (C_u - I) Y + regularization I) x = Y' C_u p_u`` with
    confidence ``1 + alpha * C[u, i]`` and preference 1 where ``C[u, i] > 0``
    (Hu, Koren & Volinsky 2008); a row without entries gets zeros. Rows are
    solved in batches of ``block`` (one sparse product builds their systems);
    ``gram``, if given, is ``Y'Y + regularization I`` computed once by the caller.

    Returns
    -------
    ndarray of shape (n_rows, n_factors)
    """
    n, f = C.shape[0], Y.shape[1]
    base = Y.T @ Y + regularization * np.eye(f) if gram is None else gram
    if n == 1:  # one couple's request: its few ideas directly (a dense row needs no sparse copy)
        if sp.issparse(C):
            row = sp.csr_matrix(C, dtype=float)
            cols, values = row.indices, row.data
        else:
            values = np.asarray(C, dtype=float).ravel()
            cols = np.flatnonzero(values)
            values = values[cols]
        Yd, conf = Y[cols], alpha * values
        if not len(conf):
            return np.zeros((1, f))
        return np.linalg.solve(base + (Yd.T * conf) @ Yd, Yd.T @ (1.0 + conf))[None, :]
    C = sp.csr_matrix(C, dtype=float)
    out = np.zeros((n, f))
    for lo in range(0, n, block):
        rows = C[lo:lo + block]
        if not rows.nnz:
            continue
        keep = np.flatnonzero(np.diff(rows.indptr) > 0)
        if len(keep) < rows.shape[0]:
            rows = rows[keep]
        # y y' only for the columns these rows use (one couple's history: a few dozen ideas)
        cols, local = np.unique(rows.indices, return_inverse=True)
        outer = (Y[cols, :, None] * Y[cols, None, :]).reshape(len(cols), f * f)
        extra = sp.csr_matrix((alpha * rows.data, local.ravel(), rows.indptr), shape=(rows.shape[0], len(cols)))
        A = (extra @ outer).reshape(-1, f, f)
        A += base
        b = sp.csr_matrix((1.0 + alpha * rows.data, rows.indices, rows.indptr), shape=rows.shape) @ Y
        out[lo + keep] = np.linalg.solve(A, b[:, :, None])[:, :, 0]
    return out


def als_sweeps(C: sp.spmatrix, V: np.ndarray, regularization: float, alpha: float,
               iterations: int, cg_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``iterations`` sweeps of implicit ALS on ``C`` (rows x items) from the item factors ``V``.

    Each sweep solves the row factors, then the item factors: exactly
    (:func:`solve_factors`), or, with ``cg_steps``, by that many conjugate-gradient
    steps from the previous sweep's factors (Takacs, Pilaszy & Tikk 2011; implicit's
    default, 3 steps): O(entries x factors) a step instead of O(entries x factors^2).
    Returns ``(U, V)``.
    """
    C = sp.csr_matrix(C, dtype=float)
    Ct = sp.csr_matrix(C.T)
    U = np.zeros((C.shape[0], V.shape[1]))
    for sweep in range(iterations):
        if cg_steps is None or sweep == 0:  # the first sweep solves exactly: a start for the steps after
            U = solve_factors(C, V, regularization, alpha)
            V = solve_factors(Ct, U, regularization, alpha) if cg_steps is None else \
                _cg_factors(Ct, U, V, regularization, alpha, cg_steps)
        else:
            U = _cg_factors(C, V, U, regularization, alpha, cg_steps)
            V = _cg_factors(Ct, U, V, regularization, alpha, cg_steps)
    return U, V


def _cg_factors(C: sp.csr_matrix, Y: np.ndarray, X: np.ndarray, regularization: float, alpha: float,
                steps: int) -> np.ndarray:
    """The rows' factors of :func:`solve_factors`, approached by ``steps`` conjugate-gradient
    steps from ``X``, all rows at once (each row's system is never formed)."""
    base = Y.T @ Y + regularization * np.eye(Y.shape[1])
    owner = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    Yc = Y[C.indices]  # (entries, factors)
    weight = alpha * C.data

    def times_a(P: np.ndarray) -> np.ndarray:  # A_u p_u for every row u
        along = np.einsum("ij,ij->i", Yc, P[owner])
        return P @ base + sp.csr_matrix((weight * along, C.indices, C.indptr), shape=C.shape) @ Y

    b = sp.csr_matrix((1.0 + weight, C.indices, C.indptr), shape=C.shape) @ Y
    X = X.copy()
    r = b - times_a(X)
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    for _ in range(steps):
        Ap = times_a(p)
        denom = np.einsum("ij,ij->i", p, Ap)
        step = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 1e-20)
        X += step[:, None] * p
        r -= step[:, None] * Ap
        new = np.einsum("ij,ij->i", r, r)
        p = r + np.divide(new, rs, out=np.zeros_like(new), where=rs > 1e-20)[:, None] * p
        rs = new
    return X


def choose_alpha(times: sp.spmatrix, liked: sp.spmatrix, *, n_factors: int, regularization: float,
                 iterations: int, seed: int = 0, alphas: tuple[float, ...] = ALPHAS,
                 k: int = 10, cg_steps: int | None = 3) -> tuple[float, dict[float, float]]:
    """The confidence weight with which implicit ALS ranks held-out liked ideas best.

    ALS runs ``iterations`` sweeps (conjugate-gradient ones with ``cg_steps``,
    :func:`als_sweeps`). Up to 2,000 rows of ``times`` (rows x items, times done; a seeded draw) are
    kept; those with at least 5 ideas each lose a fifth of them (at least one);
    ALS is fitted on what is left once per weight in ``alphas``, and each validation
    couple's ideas are ranked among all it did not keep. The score is NDCG@``k``
    of the held-out ideas the couple liked (``liked`` > 0), as the offline
    protocol scores the engine. The first of ``alphas`` stays unless another
    scores 2% better; it also stays when fewer than 200 validation couples held
    out a liked idea (too few to tell the weights apart).

    Returns
    -------
    (alpha, scores) : the weight chosen and each weight's NDCG (empty when too few couples)
    """
    times = sp.csr_matrix(times, dtype=float)
    liked = sp.csr_matrix(liked, dtype=float)
    rng = np.random.default_rng(seed)
    if times.shape[0] > _VALIDATION_COUPLES:  # ALS on a sample of rows: its time grows with them
        sample = np.sort(rng.choice(times.shape[0], _VALIDATION_COUPLES, replace=False))
        times, liked = times[sample], liked[sample]
    sizes = np.diff(times.indptr)
    pool = np.flatnonzero(sizes >= 5)
    rows = np.sort(rng.choice(pool, min(_VALIDATION_COUPLES, len(pool)), replace=False))
    held: list[np.ndarray] = []
    for r in rows:
        ideas = times.indices[times.indptr[r]:times.indptr[r + 1]]
        held.append(np.sort(rng.choice(ideas, max(1, int(round(_HELD_OUT * len(ideas)))), replace=False)))
    cells = np.repeat(np.arange(times.shape[0]), sizes) * times.shape[1] + times.indices
    out = np.concatenate([r * times.shape[1] + h for r, h in zip(rows, held)]) if len(rows) else cells[:0]
    keep = times.copy()
    keep.data[np.isin(cells, out)] = 0.0
    keep.eliminate_zeros()
    liked_cells = np.repeat(np.arange(liked.shape[0]), np.diff(liked.indptr)) * liked.shape[1] + liked.indices
    is_liked = np.isin(out, liked_cells[liked.data > 0])  # one pass over every held-out cell
    held = [h[kept] for h, kept in zip(held, np.split(is_liked, np.cumsum([len(h) for h in held])[:-1]))]
    scored = np.array([len(h) > 0 for h in held], dtype=bool)
    if scored.sum() < _MIN_VALIDATION:
        return float(alphas[0]), {}
    rows, held = rows[scored], [h for h, s in zip(held, scored) if s]
    start = np.random.default_rng(seed).normal(0.0, 0.01, (times.shape[1], n_factors))
    scores = {float(a): _held_out_ndcg(keep, rows, held, *als_sweeps(keep, start, regularization, a, iterations,
                                                                     cg_steps=cg_steps), k)
              for a in alphas}
    best = max(scores, key=scores.get)
    first = float(alphas[0])
    return (best if scores[best] > _MARGIN * scores[first] else first), scores


def _held_out_ndcg(keep: sp.csr_matrix, rows: np.ndarray, held: list[np.ndarray], U: np.ndarray,
                   V: np.ndarray, k: int) -> float:
    """Mean NDCG@k of each row's ``held`` ideas, ranking every idea the row did not keep."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    step = int(np.clip(4_000_000 // max(V.shape[0], 1), 16, 256))  # (step, n_ideas) scores: <= 32 MB
    for lo in range(0, len(rows), step):
        block = rows[lo:lo + step]
        S = U[block] @ V.T
        kept = keep[block]
        S[np.repeat(np.arange(len(block)), np.diff(kept.indptr)), kept.indices] = -np.inf
        part = np.argpartition(-S, k, axis=1)[:, :k] if S.shape[1] > k else \
            np.broadcast_to(np.arange(S.shape[1]), S.shape)
        top = np.take_along_axis(part, np.argsort(-np.take_along_axis(S, part, 1), axis=1), 1)
        for j, h in enumerate(held[lo:lo + step]):
            gain = np.isin(top[j], h) @ discount[:top.shape[1]]
            total += gain / discount[:min(len(h), k)].sum()
    return total / len(rows)
