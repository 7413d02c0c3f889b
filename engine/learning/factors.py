"""Implicit alternating least squares (Hu, Koren & Volinsky 2008), shared by the engine and the lab.

:func:`solve_factors` solves one side given the other; :func:`als_sweeps` alternates
them. The engine's featurizer uses them for its ``cf_factors`` feature
(:mod:`engine.learning.features`); the lab's :class:`~engine.lab.baselines.MatrixFactorization`
baseline for its scores. They live here, in production code, so that production never
imports the lab.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["als_sweeps", "solve_factors"]


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
               iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """``iterations`` sweeps of implicit ALS on ``C`` (rows x items) from the item factors ``V``.

    Each sweep solves the row factors, then the item factors (:func:`solve_factors`).
    Returns ``(U, V)``.
    """
    C = sp.csr_matrix(C, dtype=float)
    Ct = sp.csr_matrix(C.T)
    U = np.zeros((C.shape[0], V.shape[1]))
    for _ in range(iterations):
        U = solve_factors(C, V, regularization, alpha)
        V = solve_factors(Ct, U, regularization, alpha)
    return U, V
