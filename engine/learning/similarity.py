"""Idea x idea similarities: co-occurrence top-k, BM25 co-occurrence, and content cosine.

Everything here is a pure function of arrays (no fitted state): the featurizer
(:mod:`engine.learning.features`) learns its similarities with them and the model
(:mod:`engine.learning.model`) its content similarity for diversity and reasons.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["RowSimilarity", "idea_similarity", "bm25_similarity", "cooccurrence_similarity", "onto_vectors",
           "top_k_rows", "unit_rows", "weighted_rows"]


class RowSimilarity:
    """``V @ V.T`` indexed like the dense matrix (``[rows]``, ``[row, cols]``), rows computed on demand.

    Parameters
    ----------
    vectors : ndarray of shape (n_ideas, n_features)
        Unit-norm idea vectors (:class:`~engine.learning.encoding.IdeaEncoder`).
    """

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors

    def __getitem__(self, key):
        """``[rows]`` and ``[rows, slice]``: whole rows, then the slice. ``[rows, positions]`` (integers or
        a mask): the products with those columns' vectors only, the shape ``[rows][..., positions]`` has.

        A few columns (the reasons' related ideas) cost a few products instead of a row over the whole
        catalog (3.3 ms a row at 50,000 ideas); the values agree with the whole row's to rounding
        (BLAS sums a row and a few columns in different orders), not always to the last bit.
        """
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        if isinstance(cols, slice):
            return (self.vectors[rows] @ self.vectors.T)[..., cols]
        cols = np.asarray(cols)
        if cols.dtype == bool:
            cols = np.flatnonzero(cols)
        return self.vectors[rows] @ self.vectors[cols].T


#: catalogs larger than this compute idea x idea similarity rows on demand (:class:`RowSimilarity`)
_DENSE_SIM_IDEAS = 2048


def idea_similarity(vectors: np.ndarray):
    """Idea x idea cosine of unit-norm idea vectors, for the diversity penalty and the reasons.

    A dense matrix up to 2,048 ideas (32 MB); above, a :class:`RowSimilarity`
    that computes the rows asked for (a dense one is 128 MB at 4,000 ideas,
    issue 23). Both index alike.
    """
    return vectors @ vectors.T if len(vectors) <= _DENSE_SIM_IDEAS else RowSimilarity(vectors)


def cooccurrence_similarity(done_bin: sp.csr_matrix, shrink: float, neighbours: int) -> sp.csr_matrix:
    """Item-item cosine similarity on who did what, shrunk, top-k per idea; kept sparse.

    Parameters
    ----------
    done_bin : sparse matrix of shape (n_couples, n_ideas)
        1 where the couple did the idea.
    shrink : float
        Added to the cosine's denominator (pulls rare pairs toward 0).
    neighbours : int
        Similarities kept per idea.

    Returns
    -------
    csr_matrix of shape (n_ideas, n_ideas)
        Column i: the neighbours contributing to idea i. (A dense ideas x ideas matrix
        would be 128 MB at 4,000 ideas, several at once.)
    """
    co = sp.coo_matrix(done_bin.T @ done_bin)
    counts = np.asarray(done_bin.sum(axis=0)).ravel()
    denom = np.sqrt(counts[co.row] * counts[co.col]) + shrink
    values = np.divide(co.data, denom, out=np.zeros(len(co.data)), where=denom > 0)
    return top_k_rows(co.row, co.col, values, done_bin.shape[1], neighbours).T.tocsr()


def unit_rows(A) -> np.ndarray:
    """The rows of A (n, d) scaled to unit norm (a zero row stays zero)."""
    A = np.asarray(A, dtype=float)
    # np.linalg.norm(A, axis=1, keepdims=True) spelt out as it computes it (the same bits, less dispatch)
    norms = np.sqrt(np.add.reduce(A * A, axis=1, keepdims=True))
    return A / np.maximum(norms, 1e-12)


def bm25_similarity(done: sp.csr_matrix, neighbours: int, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Item-item similarity on BM25-weighted co-occurrence (as implicit's BM25Recommender).

    ``done`` is the binary (n_couples, n_ideas) matrix. Couples who did many
    ideas count less (idf over couples), popular ideas are length-normalised;
    each idea keeps its ``neighbours`` most similar ideas. Returns (n_ideas,
    n_ideas), column i = the contributions to idea i.
    """
    X = sp.coo_matrix(done.T)  # ideas x couples
    n_ideas = X.shape[0]
    if X.nnz == 0:
        return sp.csr_matrix((n_ideas, n_ideas))
    idf = np.log(max(n_ideas, 1)) - np.log1p(np.bincount(X.col, minlength=X.shape[1]))
    lengths = np.asarray(X.sum(axis=1)).ravel()
    norm = (1.0 - b) + b * lengths / max(lengths.mean(), 1e-12)
    data = X.data * (k1 + 1.0) / (k1 * norm[X.row] + X.data) * idf[X.col]
    W = sp.csr_matrix((data, (X.row, X.col)), shape=X.shape)
    sim = sp.coo_matrix(W @ W.T)
    return top_k_rows(sim.row, sim.col, sim.data, n_ideas, neighbours).T.tocsr()


def top_k_rows(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int,
                neighbours: int) -> sp.csr_matrix:
    """An (n, n) sparse similarity without its diagonal, each row keeping its ``neighbours``
    largest entries (ties with the last one kept, zeros dropped).

    The sparse form of "fill the diagonal with 0, cut each dense row at its k-th largest
    value": the same entries survive, without ever building the dense n x n matrix.
    """
    off = (rows != cols) & (values != 0)
    rows, cols, values = rows[off], cols[off], values[off]
    k = min(neighbours, max(n - 1, 1))
    if k < n - 1 and len(values):
        # each row's k-th largest value (0 when it has fewer than k entries: keep them all)
        order = np.lexsort((-values, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        starts = np.searchsorted(rows, np.arange(n))
        ends = np.searchsorted(rows, np.arange(n), side="right")
        kth = starts + k - 1
        cut = np.where(kth < ends, values[np.minimum(kth, len(values) - 1)], 0.0)
        keep = values >= cut[rows]
        rows, cols, values = rows[keep], cols[keep], values[keep]
    out = sp.csr_matrix((values, (rows, cols)), shape=(n, n))
    out.sort_indices()
    return out


#: ``rows @ V`` reads only the ideas some row holds while they are under this share of the catalog
_ONTO_SHARE = 0.25


def onto_vectors(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``rows @ vectors`` for rows over the ideas that are mostly zero (what a couple did, liked,
    rated): only the ideas some row holds are read (a couple's few hundred of 50,000 ideas, not
    the whole 35 MB table). The same products to rounding (the terms' grouping differs), and
    exactly ``rows @ vectors`` where the rows hold a quarter of the ideas or more (a batch)."""
    held = np.flatnonzero(rows.any(axis=0))
    if len(held) >= _ONTO_SHARE * rows.shape[1]:
        return rows @ vectors
    return rows[:, held] @ vectors[held]


def weighted_rows(matrix: sp.csr_matrix, r: np.ndarray, j: np.ndarray, weights: np.ndarray,
                  n_rows: int) -> np.ndarray:
    """Dense (n_rows, m): out[r] = the sum of ``weights * matrix[j]`` over the triples (r, j, weight).

    Reads only the matrix rows ``j``; each output adds its terms in the order of the triples, as
    scipy's sparse products do for a sparse left factor holding the triples in that order (so
    their values are the same to the last bit).
    """
    starts = matrix.indptr[j]
    lengths = matrix.indptr[j + 1] - starts
    ends = np.cumsum(lengths)
    at = np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - (ends - lengths), lengths)
    terms = matrix.data[at]
    weights = np.asarray(weights, dtype=matrix.dtype)
    if not (weights == 1).all():  # binary rows (what was done, liked) skip the product: x * 1 is x to the bit
        terms = terms * np.repeat(weights, lengths)
    m = matrix.shape[1]
    # one row (a request's couple): its outputs are the matrix columns themselves
    flat = matrix.indices[at] if n_rows == 1 else np.repeat(r * m, lengths) + matrix.indices[at]
    return np.bincount(flat, weights=terms, minlength=n_rows * m).reshape(n_rows, m)
