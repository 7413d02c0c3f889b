"""The pair features of (couple, idea), written and read by name.

:data:`FEATURE_NAMES` lists the 30 named features; :data:`COLUMN` maps each
name to its column of the (n_couples, n_ideas, n_features) array ``F``, and
:class:`NamedColumns` (``out["taste"] = ...``) and :func:`column`
(``column(F, "days_since")``) are the only ways the engine touches a named
column. :class:`PairFeaturesMixin` gives
:class:`~engine.learning.features.HistoryFeaturizer` its :meth:`transform` and
:meth:`retaste`, for every idea or for candidate ideas only (``ideas=``: the
features normalised over the catalog keep their catalog-wide ranges); it reads
the featurizer's fitted state (``idea_vectors_``, ``group_of_``, ``popularity_``,
``quality_``, ``relevant_rate_``, ``reference_``, ``item_factors_``, ``choice_*_``,
``blocks_``, ``locations_``, ``feature_names_``) and its ``_times`` / ``_group_matrix``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..domain.dates import UNDATED
from ..domain.geo import distances_km
from .factors import solve_factors
from .histories import Histories, last_day_scale
from .similarity import onto_vectors, unit_rows, weighted_rows

__all__ = ["COLUMN", "FEATURE_NAMES", "GROUP_RANKS", "NamedColumns", "PairFeaturesMixin", "column"]

#: implicit ALS behind ``cf_factors``: implicit's ALS at its best point of the peers grid
#: on synthetic couples (docs/peers.md); its confidence weight is chosen on the data at fit
#: (``HistoryFeaturizer.factor_alpha``), "alpha" being the one artifacts from before were fitted with.
#: 15 sweeps of 3 conjugate-gradient steps each (implicit's defaults), the first one exact: they
#: cost less than the 5 exact sweeps used before and fit closer (a MovieLens-1M-sized world: 5 exact
#: 0.0859, 15 exact 0.0906 NDCG@10; docs/evaluation-results.md, "The ALS feature's confidence weight")
FACTORS = {"n_factors": 32, "regularization": 10.0, "alpha": 1.0, "iterations": 15, "cg_steps": 3}

#: couples per step of the scalar match features: temporaries of (scalars x rows x ideas) stay ~10 MB
_MATCH_ROWS = 256

#: the features computed from the couple's ratings (the rest come from what was done, when, and the profile)
_TASTE = ("cf_liked", "cf_disliked", "taste", "sim_liked", "sim_disliked", "attr_taste", "couple_mean")

#: features also given relative to the couple's own range (0 = their lowest idea, 1 = their highest)
_RELATIVE = ("cf_done", "cf_liked", "taste", "sim_liked", "routine_distance", "attr_share", "nearby")

#: the named pair features, in column order; after them come ``match:<attr>`` and ``above:<attr>``
#: per attribute block and ``rel:<name>`` per :data:`_RELATIVE` (``HistoryFeaturizer.feature_names_``)
FEATURE_NAMES = (
    "cf_done",
    "cf_liked",
    "cf_disliked",
    "taste",
    "sim_liked",
    "sim_disliked",
    "routine_distance",
    "attr_share",
    "attr_taste",
    "times_done",
    "days_since",
    "popularity",
    "quality",
    "relevant_rate",
    "history_size",
    "couple_mean",
    "cf_user",
    "cf_bm25",
    "choice_taste",
    "cf_factors",
    "group_rank1",
    "group_rank2",
    "group_rank3",
    "group_rank4",
    "interest",
    "interest_novel",
    "over_budget",
    "interest_cold",
    "distance",
    "nearby",
)

#: the column of each named feature: ``F[..., COLUMN["taste"]]``
COLUMN: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

#: the four ``group_rank<n>`` columns (one-hot of the idea's kind's place among the couple's most done)
GROUP_RANKS = slice(COLUMN["group_rank1"], COLUMN["group_rank4"] + 1)

#: ``nearby`` = exp(-km / this): an idea this far from home counts 0.37 as near as one next door
_NEARBY_KM = 5.0
#: ``distance`` = min(km, this) / this: beyond it, farther makes no difference (another town).
#: Linear rather than log1p(km): UCI NDCG@10 0.378 vs 0.373 (3 seeds, README)
_FAR_KM = 30.0


def _columns(ideas: np.ndarray | None) -> slice | np.ndarray:
    """The catalog columns to featurise: every idea (a slice, so indexing makes views) or ``ideas``."""
    return slice(None) if ideas is None else np.asarray(ideas, dtype=np.int64)


#: catalogs of at most this many ideas keep the fitted arrays' columns at the last candidate
#: set (:meth:`PairFeaturesMixin._fitted_at`): ~2 MB at 2,048 ideas, too much above
_CACHED_COLUMNS_IDEAS = 2048


def _at(plane: np.ndarray | float, cols) -> np.ndarray | float:
    """The columns ``cols`` of a (n_couples, n_ideas) plane; a number (the same for every idea) as is."""
    return plane[:, cols] if np.ndim(plane) == 2 else plane


def _block_of(vectors: np.ndarray, block: np.ndarray) -> np.ndarray:
    """The columns ``block`` of ``vectors``: a view when they are a run (an attribute's encoded
    columns are; BLAS reads the strided view in place), else a copy."""
    if len(block) and block[-1] - block[0] + 1 == len(block):
        return vectors[:, block[0]:block[-1] + 1]
    return vectors[:, block]


class NamedColumns:
    """Named access to the pair-feature columns of ``F`` (a view: writing writes ``F``).

    Parameters
    ----------
    F : ndarray of shape (..., n_features)
    """

    def __init__(self, F: np.ndarray):
        self.F = F

    def __getitem__(self, name: str) -> np.ndarray:
        return self.F[..., COLUMN[name]]

    def __setitem__(self, name: str, value) -> None:
        self.F[..., COLUMN[name]] = value


def column(F: np.ndarray, name: str) -> np.ndarray:
    """The feature ``name`` (one of :data:`FEATURE_NAMES`) of pair features ``F`` (..., n_features)."""
    return F[..., COLUMN[name]]


class PairFeaturesMixin:
    """Pair features from :class:`~engine.learning.histories.Histories` (for a fitted featurizer)."""

    def transform(self, hist: Histories, as_of_day: np.ndarray | int | None = None,
                  ideas: np.ndarray | None = None) -> np.ndarray:
        """Pair features for every (couple, idea), or for the ideas at ``ideas`` only.

        Parameters
        ----------
        hist : Histories
            From :meth:`histories`, with only the history before the moment predicted.
        as_of_day : int or ndarray of shape (n_couples,), optional
            Day number (days since 1970) of the moment predicted, for
            ``days_since``; default, and for a couple whose day is
            :data:`~engine.domain.dates.UNDATED`: the couple's latest date.
        ideas : ndarray of int (n_columns,), optional
            Catalog positions of the ideas to featurise (the candidates), in
            that order; default: every idea. What is normalised over the
            catalog (``rel:<name>``: the couple's own range over all ideas;
            the default reference day of ``days_since``) keeps its
            catalog-wide statistics: the few base features of ``rel:`` are
            computed over every idea (:meth:`_relative`), the rest for the
            candidates only. Each column equals that idea's column of the
            full transform.

        Returns
        -------
        ndarray of shape (n_couples, n_columns, n_features)
            Features in :data:`FEATURE_NAMES` order (n_columns: n_ideas without ``ideas``).
        """
        return self._transform(hist, as_of_day, ideas)[0]

    def _transform(self, hist: Histories, as_of_day: np.ndarray | int | None = None, ideas: np.ndarray | None = None,
                   partner: Histories | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`transform`, and with ``partner`` (other ratings of some of the same couples: one
        partner's own, :meth:`retaste`'s ``hist``) that partner's taste rows projected onto every
        idea in the same pass over the ideas' vectors (one pass instead of two: at 50,000 ideas
        each reads 35 MB), for :meth:`retaste`'s ``back``."""
        if not hasattr(self, "similarity_"):  # (check_is_fitted reads the estimator's tags: ~8 us a call)
            check_is_fitted(self, "similarity_")
        cols = _columns(ideas)
        n_c = len(hist.couple_ids)
        group_of = self._fitted_at("group_of", cols, lambda c: self.group_of_[c])
        # stored as one contiguous plane per feature; F is a (couple, idea, feature) view of it
        planes = np.empty((len(self.feature_names_), n_c, len(group_of)), dtype=np.float32)
        F = planes.transpose(1, 2, 0)
        out = NamedColumns(F)
        done_bin = (hist.done > 0).astype(float)
        n_done = np.maximum(done_bin.sum(axis=1), 1.0)[:, None]
        # what the couple did recently, did, and did at all, onto the ideas' vectors in one pass (a large
        # catalog's vectors do not fit in a cache: each pass reads them all)
        routine, chosen, done_sum = np.split(onto_vectors(np.vstack([hist.recent, hist.done, done_bin]),
                                                          self.idea_vectors_), 3)
        # the base features of rel:<name>, over every idea (their ranges are the couple's own); the
        # routine's cosine and the choices' taste go back onto the ideas in the taste planes' pass
        also = (unit_rows(routine), self._choice_weights(hist, chosen))
        if partner is not None:
            also += (self._taste_rows(partner),)
        catalog, (routine_cos, choice, *partner_back) = self._taste_planes(F, hist, cols, also=also)
        catalog["cf_done"] = self._times("similarity_", done_bin) / np.sqrt(n_done)
        catalog["routine_distance"] = self._routine_distance(hist, routine_cos)
        catalog["attr_share"] = ((done_bin @ self._group_matrix()) / n_done)[:, self.group_of_]
        distance, catalog["nearby"] = self._distances(hist.homes)
        for name in ("cf_done", "routine_distance", "attr_share", "nearby"):
            out[name] = _at(catalog[name], cols)
        out["distance"] = _at(distance, cols)
        groups = self._group_matrix()
        dist = catalog["routine_distance"][:, cols]
        out["times_done"] = np.log1p(hist.done[:, cols])
        last = hist.last_day  # on last_day_scale: 0 = never or undated
        ref = last.max(axis=1) if last.shape[1] else np.zeros(n_c)  # each couple's latest date, over the catalog
        if as_of_day is not None:
            as_of = np.asarray(as_of_day)
            as_of = np.full(n_c, as_of) if as_of.ndim == 0 else np.broadcast_to(as_of, (n_c,))  # (full: no dispatch)
            ref = np.where(as_of == UNDATED, ref, last_day_scale(as_of))
        last = last[:, cols]
        # np.clip(x, 0, 365) spelt out (its definition, without np.clip's dispatch; x is never -0.0)
        since = np.where(last > 0, np.minimum(np.maximum(ref[:, None] - last, 0), 365), 365.0) / 365.0
        out["days_since"] = since
        out["popularity"] = self._fitted_at("popularity", cols, lambda c: self.popularity_[None, c])
        out["quality"] = self._fitted_at("quality", cols, lambda c: self.quality_[None, c])
        out["relevant_rate"] = self._fitted_at("relevant_rate", cols, lambda c: self.relevant_rate_[None, c])
        out["history_size"] = np.log1p(hist.n_dates)[:, None]
        out["cf_user"] = self._user_neighbours(done_bin, cols)
        out["cf_bm25"] = self._times("bm25_similarity_", done_bin, cols)
        out["choice_taste"] = choice[:, cols]
        out["cf_factors"] = self._factor_scores(hist, cols)
        F[..., GROUP_RANKS] = self._group_ranks(hist.done @ groups)[:, group_of]
        interest = hist.interest[:, cols]
        out["interest"] = interest
        out["interest_novel"] = interest * dist  # an interest far from the routine: the novelty the product is for
        out["over_budget"] = hist.over_budget[:, cols]
        # stated interests weigh most while little else is known: the first suggestions after sign-up
        out["interest_cold"] = interest / (1.0 + hist.n_dates)[:, None]
        self._attribute_matches(F, done_bin, done_sum / n_done, cols)
        self._relative(F, _RELATIVE, None if isinstance(cols, slice) else catalog)
        return F, (partner_back[0] if partner is not None else None)

    def retaste(self, F: np.ndarray, hist: Histories, ideas: np.ndarray | None = None, *,
                back: np.ndarray | None = None) -> np.ndarray:
        """Recompute, in place, the features that depend on ratings (:data:`_TASTE`) for ``hist``'s.

        ``F`` holds the pair features of the same couples with the same dates
        (what was done and when), rated by someone else: one partner's
        features from the other's (:meth:`engine.learning.model.EnjoymentModel.enjoyment`)
        without recomputing the rest, which is the same for both. ``ideas``:
        the catalog positions of ``F``'s columns, as given to :meth:`transform`
        (default: every idea). ``back``: ``hist``'s taste rows already projected
        onto every idea (what ``_transform`` gives for its ``partner``). Returns ``F``.
        """
        if not hasattr(self, "similarity_"):  # (check_is_fitted reads the estimator's tags: ~8 us a call)
            check_is_fitted(self, "similarity_")
        cols = _columns(ideas)
        catalog, _ = self._taste_planes(F, hist, cols, back=back)
        self._relative(F, [name for name in _RELATIVE if name in _TASTE], None if isinstance(cols, slice) else catalog)
        return F

    def _fitted_at(self, name: str, cols, take) -> np.ndarray:
        """``take(cols)``: a fitted array's entries at the candidate columns ``cols`` (``name`` says
        which), kept per process for the last candidate set (requests under the same constraints
        share it) and read only. The same gathered copy, so the products with it are the same to
        the last bit. A slice (every idea) takes views, uncached."""
        if isinstance(cols, slice) or len(self.group_of_) > _CACHED_COLUMNS_IDEAS:
            return take(cols)
        key = cols.tobytes()
        cache = self.__dict__.get("_column_cache")
        if cache is None or cache[0] != key:
            cache = self._column_cache = (key, {})
        out = cache[1].get(name)
        if out is None:
            out = take(cols)
            out.flags.writeable = False
            cache[1][name] = out
        return out

    def _match_layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Of :meth:`_attribute_matches`, from the fitted blocks (kept per process, read only): the
        ``match:`` feature index of each block, which blocks are scalar, the ``above:`` feature
        index of each scalar block and the idea-vector column of each scalar."""
        layout = self.__dict__.get("_match_layout_cache")
        if layout is None:
            first = len(FEATURE_NAMES)
            slots = first + np.arange(len(self.blocks_))
            scalar = np.array([is_scalar for _, _, is_scalar in self.blocks_], dtype=bool)
            above = first + len(self.blocks_) + np.arange(int(scalar.sum()))
            first_cols = np.array([block[0] for _, block, is_scalar in self.blocks_ if is_scalar], dtype=np.int64)
            layout = self._match_layout_cache = (slots, scalar, above, first_cols)
            for array in layout:
                array.flags.writeable = False
        return layout

    def _retasted_columns(self) -> np.ndarray:
        """The columns of ``F`` that :meth:`retaste` rewrites: the :data:`_TASTE` features and their ``rel:``."""
        first = len(self.feature_names_) - len(_RELATIVE)
        return np.array([COLUMN[name] for name in _TASTE] +
                        [first + _RELATIVE.index(name) for name in _RELATIVE if name in _TASTE], dtype=np.int64)

    def _taste_rows(self, hist: Histories) -> np.ndarray:
        """What the taste planes project back onto every idea, (3 n_couples, n_vector): the taste
        (the centered ratings onto the ideas' vectors, shrunk) and the unit liked and disliked profiles."""
        n_c = len(hist.couple_ids)
        n_rated = (hist.centered != 0).sum(axis=1)[:, None]
        onto = onto_vectors(np.vstack([hist.centered, hist.liked, hist.disliked]), self.idea_vectors_)
        return np.vstack([onto[:n_c] / (n_rated + 2.0), unit_rows(onto[n_c:])])

    def _taste_planes(self, F: np.ndarray, hist: Histories, cols=slice(None), also: tuple[np.ndarray, ...] = (),
                      back: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """The features of :data:`_TASTE`, from ``hist``'s ratings, written into ``F`` (whose columns
        are the ideas at ``cols``); returns the item features among them over every idea
        (name -> (n_couples, n_ideas)), for the couple's ranges, and each of ``also`` (rows in the
        vectors' space) onto every idea, in the same pass over the vectors. ``back``: the
        :meth:`_taste_rows` of ``hist`` already projected (then ``also`` must be empty)."""
        out = NamedColumns(F)
        n_c = len(hist.couple_ids)
        cf = self._times("similarity_", np.vstack([hist.liked, hist.disliked]))
        if back is None:
            # one pass over the ideas' vectors each way (a large catalog's vectors do not fit in a cache:
            # each pass reads them all): the ratings onto the vectors, then the taste, the unit liked
            # and disliked profiles and ``also`` back onto every idea
            back = np.vstack([self._taste_rows(hist), *also]) @ self.idea_vectors_.T
        catalog = {"cf_liked": cf[:n_c], "cf_disliked": cf[n_c:], "taste": back[:n_c],
                   "sim_liked": back[n_c:2 * n_c], "sim_disliked": back[2 * n_c:3 * n_c]}
        for name, plane in catalog.items():
            out[name] = plane[:, cols]
        groups = self._group_matrix()
        gtaste = (hist.centered @ groups) / np.maximum((hist.centered != 0) @ groups, 1)
        out["attr_taste"] = gtaste[:, self._fitted_at("group_of", cols, lambda c: self.group_of_[c])]
        out["couple_mean"] = hist.mean_z[:, None]
        ends = 3 * n_c + np.cumsum([len(rows) for rows in also], dtype=np.int64)
        return catalog, [back[end - len(rows):end] for end, rows in zip(ends, also)]

    def _routine_distance(self, hist: Histories, routine_cos: np.ndarray) -> np.ndarray:
        """``routine_distance`` of every idea: half "how unlike the recent dates in every attribute",
        half "how rarely the recent dates were of this kind" (the group, e.g. category); 0.5 without
        history. ``routine_cos``: each idea's cosine with the recent dates' vector
        (``unit_rows(hist.recent @ idea_vectors_) @ idea_vectors_.T``; the ideas' vectors are unit norm)."""
        groups = self._group_matrix()
        recent_groups = hist.recent @ groups
        recent_share = recent_groups / np.maximum(recent_groups.sum(axis=1, keepdims=True), 1e-12)
        dist = 0.5 * (1.0 - routine_cos) + 0.5 * (1.0 - recent_share[:, self.group_of_])
        dist[~(hist.n_dates > 0)] = 0.5
        return dist

    def _relative(self, F: np.ndarray, names, catalog: dict[str, np.ndarray] | None = None) -> None:
        """``rel:<name>``: each feature in ``names`` scaled to the couple's own range over every idea
        (0 lowest, 1 highest). The range is read from ``F`` when it holds every idea, else from
        ``catalog`` (name -> the feature over every idea, or a number: the same for all), rounded
        to float32 as ``F`` holds it."""
        first = len(self.feature_names_) - len(_RELATIVE)
        if catalog is None and len(names) and F.size:  # all at once (the same min, max and arithmetic per plane)
            planes = F.transpose(2, 0, 1)
            source = planes[[COLUMN[name] for name in names]]
            lo = source.min(axis=2, keepdims=True)
            hi = source.max(axis=2, keepdims=True)
            planes[[first + _RELATIVE.index(name) for name in names]] = (source - lo) / np.maximum(hi - lo, 1e-9)
            return
        for name in names:
            col = F[..., COLUMN[name]]
            whole = col if catalog is None else \
                np.broadcast_to(np.asarray(catalog[name], dtype=np.float32), (F.shape[0], len(self.group_of_)))
            lo = whole.min(axis=1, keepdims=True)
            hi = whole.max(axis=1, keepdims=True)
            F[..., first + _RELATIVE.index(name)] = (col - lo) / np.maximum(hi - lo, 1e-9)

    def _distances(self, homes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
        """``distance`` (km from home, capped at 30, over 30) and ``nearby`` (exp(-km / 5)) of every idea.

        An idea with no place of its own is at home (distance 0, nearby 1); a couple whose home
        is unknown, or a catalog without locations, gets 0 for both on every idea (no effect on
        the couple's ranking).
        """
        locations = getattr(self, "locations_", None)
        if locations is None or np.isnan(homes).all():
            return 0.0, 0.0
        km = distances_km(homes, locations)
        known = ~np.isnan(homes[:, :1])
        km = np.where(np.isnan(km) & known, 0.0, km)
        return np.nan_to_num(np.minimum(km, _FAR_KM) / _FAR_KM), np.nan_to_num(np.exp(-km / _NEARBY_KM))

    @staticmethod
    def _group_ranks(times: np.ndarray, ranks: int = 4) -> np.ndarray:
        """One-hot of each group's place among the couple's most done groups (first ``ranks``).

        ``times`` is (n_couples, n_groups) times done; ties keep the group order; a group
        never done has no place. Returns (n_couples, n_groups, ranks) float32.
        """
        order = np.argsort(-times, axis=1, kind="stable")
        place = np.argsort(order, axis=1)  # the inverse permutation: each group's place in ``order``
        place = np.where(times > 0, place, ranks)
        return (place[..., None] == np.arange(ranks)).astype(np.float32)

    def _choice_weights(self, hist: Histories, chosen: np.ndarray) -> np.ndarray:
        """Each couple's taste as revealed by what it chose to do: its weights ``w`` on the idea
        vectors (``w . v_i`` is ``choice_taste`` of idea i).

        A conditional logit "the couple picks idea i with probability
        proportional to exp(a_i + w . v_i)" with the population's a_i and a
        Gaussian prior on w: one Newton step from w = 0 gives
        ``w = (lambda I + n C)^-1 (sum of the chosen vectors - n * mean)``,
        the couple's choices beyond the population's, de-correlated by the
        covariance C of the idea vectors (so correlated attributes are not
        counted twice). n = the couple's dates, repeats included. ``chosen``: ``hist.done @ idea_vectors_``
        (the sum of the chosen vectors).
        """
        n = hist.done.sum(axis=1)
        S = (chosen - n[:, None] * self.choice_mean_[None, :]) @ self.choice_evecs_
        return (S / (self.choice_shrink + n[:, None] * self.choice_evals_[None, :])) @ self.choice_evecs_.T

    def _factor_scores(self, hist: Histories, cols=slice(None)) -> np.ndarray:
        """Implicit-ALS score of the ideas at ``cols``: the couple's factors folded in from its history."""
        Y = self.item_factors_
        alpha = getattr(self, "factor_alpha_", FACTORS["alpha"])
        U = solve_factors(hist.done, Y, FACTORS["regularization"], alpha, gram=self.factor_gram_)
        return U @ self._fitted_at("factors", cols, lambda c: Y[c]).T

    def _user_neighbours(self, done_bin: np.ndarray, cols=slice(None)) -> np.ndarray:
        """Score of the ideas at ``cols`` among the couple's most similar reference couples (user-kNN)."""
        n_c = done_bin.shape[0]
        norms = np.sqrt(done_bin.sum(axis=1)).astype(np.float32)
        sims = np.asarray(self.reference_ @ done_bin.T.astype(np.float32)).T / np.maximum(norms, 1e-12)[:, None]
        k = min(self.user_neighbours, sims.shape[1])
        if k == 0 or n_c == 0:
            return np.zeros((n_c, len(self.group_of_[cols])))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = sims[np.arange(n_c)[:, None], top]
        total = np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        liked = weighted_rows(self.reference_liked_, np.repeat(np.arange(n_c), k), top.ravel(), weights.ravel(), n_c)
        return liked[:, cols] / total

    def _attribute_matches(self, F: np.ndarray, done_bin: np.ndarray, profile: np.ndarray, cols=slice(None)) -> int:
        """Per attribute: how well the idea matches what the couple usually does (and goes beyond it).

        ``match:<attr>``: for a scalar attribute (ordinal, numeric, boolean) minus the distance
        between the idea's value and the couple's mean value (0 without history); for the others
        the product of the couple's mean block with the idea's block. ``above:<attr>`` (scalars):
        the idea's value minus the highest value among the ideas the couple did (0 without history).
        The scalar attributes are computed all at once; ``F``'s columns are the ideas at ``cols``
        (the highest value done is over every idea). ``profile``: the couple's mean idea vector over
        the ideas it did (``done_bin @ idea_vectors_ / n_done``). Returns the next free feature index.
        """
        V = self.idea_vectors_
        planes = F.transpose(2, 0, 1)  # (feature, couple, idea), contiguous per feature
        has = (done_bin.sum(axis=1) > 0)[:, None]
        first = len(FEATURE_NAMES)
        slots, scalar, above, first_cols = self._match_layout()
        vectors = V if isinstance(cols, slice) else None
        for j, (_, block, is_scalar) in zip(slots, self.blocks_):
            if not is_scalar:
                if vectors is None:
                    vectors = self._fitted_at("vectors", cols, lambda c: V[c])
                planes[j] = profile[:, block] @ _block_of(vectors, block).T
        if len(above):
            values = V[:, first_cols].T  # (n_scalars, n_ideas)
            means = profile[:, first_cols].T  # (n_scalars, n_couples)
            here = self._fitted_at("scalars", cols, lambda c: values[:, c])  # (n_scalars, n_columns)
            done = done_bin > 0
            for lo in range(0, len(has), _MATCH_ROWS):  # bounded temporaries for a large batch
                hi = lo + _MATCH_ROWS
                rows_have = has[None, lo:hi]
                gap = np.abs(means[:, lo:hi, None] - here[:, None, :])
                planes[slots[scalar], lo:hi] = np.where(rows_have, -gap, 0.0)
                top = np.max(np.where(done[None, lo:hi], values[:, None, :], -np.inf), axis=2, keepdims=True)
                planes[above, lo:hi] = np.where(rows_have, here[:, None, :] - np.where(np.isfinite(top), top, 0.0),
                                                0.0)
        return first + len(self.blocks_) + len(above)
