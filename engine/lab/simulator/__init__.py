"""Simulated couples with a known truth: tastes, a routine, a novelty response.

The simulator is the evaluation's ground truth. It draws couples, lets them
go on dates for a year or so, records what they did and how each partner
rated it, and keeps every latent variable so that :meth:`SimulatedWorld.expected_enjoyment`
can say how much a couple would *truly* enjoy any idea now (the oracle).

Generative model
----------------
Ideas (from the catalog, :mod:`engine.domain.catalog`)
    Each idea ``i`` becomes a vector ``x_i`` of encoded attributes. With the
    shipped catalog these are: ``category`` one-hot, ``setting`` one-hot,
    ``cost`` (0-3 scaled to 0-1), ``energy`` (1-3 scaled to 0-1),
    ``interactivity`` one-hot, ``company`` one-hot, ``pillars`` multi-hot and
    ``novelty`` (1-5 scaled to 0-1). Another catalog that has fewer than two
    of those attributes is encoded generically: every categorical as
    one-hot, ordinal as its scaled level, boolean as 0/1, numeric min-max
    scaled, multi as multi-hot (declared values or the 30 most frequent);
    text is ignored. The *category* used by the routine is the ``category``
    attribute, else the first categorical attribute with 2-50 values, else
    one category ``all``. Every idea has a quality ``q_i ~ N(0, 0.35^2)``
    shared by all couples.

Couples
    Taste ``w_c ~ N(0, s^2)`` per encoded feature (``s = 0.7`` on the category
    one-hot, ``0.3`` elsewhere), baseline ``b_c ~ N(2.6, 0.3^2)``. Latent
    utility ``u_ci = b_c + q_i + w_c . x_i``. Profile: budget ceiling 0-3
    (probabilities .1/.3/.4/.2), kids with probability 0.35, 2-3 *interests*
    (the categories they like most, with noise), ``created`` a little before
    their first date.

Novelty response (Aron et al. 2000)
    ``bonus_ci = nu_c * n_i * (1 - f_c(cat_i))`` with ``nu_c ~ U(0.8, 1.6)``,
    ``n_i = 0.5 (novelty-1)/4 + 0.25 [interactive] + 0.25 (energy-1)/2`` (only
    the parts the catalog has; 0.5 for a catalog with none of them) and
    ``f_c(k)`` the share of the couple's last 20 dates in category ``k``.
    Repeats wear off: ``- rho_c log(1 + times done)``, ``rho_c ~ U(0.3, 0.6)``.

Context
    Out of season (idea's ``seasons`` does not list the date's season): -1.0.
    Bad weather (rain, snow, storm) on a ``weather_dependent`` idea: -1.0.
    ``u_total = u + bonus - wear + context``.

Routine (the plateau)
    Each couple has 3 comfort categories, drawn without replacement with
    probability ``softmax(mean utility of the category / 0.3)`` among the
    categories they can afford, and 3-6 go-to ideas there (the affordable
    ones with the highest ``u``). Each date is a routine date with probability
    ``p_c ~ U(0.65, 0.85)``: a go-to idea drawn with ``softmax(u_total / 0.3)``
    among the feasible go-tos (else a feasible idea of a comfort category,
    else an exploratory date). Otherwise it is exploratory: a feasible idea
    drawn with ``softmax(u_total / 0.5)``.

Feasibility
    Cost at most the budget ceiling (5% of dates allow one tier more);
    on a date with kids only ``kid_friendly`` ideas. If nothing is feasible
    the budget is relaxed, then the kids rule.

Dates and context
    ``10 + Poisson(18)`` dates per couple, from a start day uniform over
    2024-2025, every ``cadence_c ~ U(7, 14)`` days (gap ``~ N(cadence, (0.3
    cadence)^2)``, at least 1). Context columns: ``ctx_weekday`` (monday ...),
    ``ctx_season`` (from the day, :func:`engine.domain.context.season_of`),
    ``ctx_weather`` (season-dependent probabilities over
    :data:`engine.domain.context.WEATHERS`), ``ctx_kids`` (couples with kids bring
    them on half their dates).

Ratings
    Partner ``p`` in ``{a, b}`` has an offset ``delta_p ~ N(0, 0.2^2)`` per
    feature. Rating ``= clip(round(u_total + delta_p . x_i + eps), 1, 5)``,
    ``eps ~ N(0, 0.5^2)``; each partner's rating is missing with probability
    0.08.

The oracle
    ``expected_enjoyment = clip(u + bonus - wear + context + (delta_a +
    delta_b)/2 . x_i, 1, 5)`` with familiarity and repeat counts from the
    couple's whole simulated history: the noise-free mean partner rating of
    the idea if they did it next.

Refinements of the original design, measured on a 300-idea catalog: the
baseline is 2.6 rather than 3.2 because couples mostly do what they like
and enjoy the novelty bonus, which already lifts observed ratings to a mean
of about 4.0 (3.2 put half of all ratings at 5); the partner offsets have
sd 0.2 rather than 0.25 so partners correlate at about 0.57 rather than
0.50; nu and rho are a little larger (0.8-1.6 and 0.3-0.6 rather than
0.6-1.4 and 0.2-0.5) so the novelty effect survives the clipping at 5 (a
well-matched new idea beats the most repeated one for about 70% of couples,
rather than 55%).

Couples are simulated in blocks of 10,000 (one vectorised pass per date
step, over all couples of the block), each block with a random generator
seeded by ``(seed, block)``, so the world is a function of ``(n_couples,
seed, catalog)`` and memory stays bounded per block.
"""

from .generate import simulate
from .parameters import BLOCK_SIZE
from .variants import dataset_variant, generate_catalog, usage_counts, without_attributes
from .world import SimulatedWorld

__all__ = ["SimulatedWorld", "simulate", "BLOCK_SIZE", "dataset_variant", "generate_catalog", "usage_counts",
           "without_attributes"]
