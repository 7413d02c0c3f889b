"""The simulator's parameters: the numbers of the generative model (see :mod:`engine.lab.simulator`).

Shared by the generator (:mod:`engine.lab.simulator.generate`), the oracle
(:mod:`engine.lab.simulator.world`) and the week-by-week dynamics
(:mod:`engine.lab.weekly`), so the three keep one set of figures.
"""

from __future__ import annotations

import numpy as np

from ...domain.context import WEEKDAYS  # the one list of weekdays, re-exported for the model's users

__all__ = ["BASELINE", "BLOCK_SIZE", "BUDGET_P", "CATEGORY_SD", "CONTEXT_PENALTY", "EPOCH", "KIDS_ALONG",
           "KIDS_SHARE", "MISSING", "NOISE_SD", "NU_RANGE", "N_COMFORT", "OTHER_SD", "PARTNER_SD",
           "QUALITY_SD", "RECENT", "RHO_RANGE", "SPLURGE", "START_SPAN_DAYS", "TASTE_ATTRIBUTES",
           "TAU_COMFORT", "TAU_EXPLORE", "TAU_ROUTINE", "WEATHER_P", "WEEKDAYS"]

#: couples simulated together (one random generator per block)
BLOCK_SIZE = 10_000

TASTE_ATTRIBUTES = ("category", "setting", "cost", "energy", "interactivity", "company",
                    "pillars", "novelty")
CATEGORY_SD = 0.7
OTHER_SD = 0.3
QUALITY_SD = 0.35
BASELINE = (2.6, 0.3)
PARTNER_SD = 0.2
NOISE_SD = 0.5
MISSING = 0.08
RECENT = 20
N_COMFORT = 3
TAU_EXPLORE = 0.5
TAU_ROUTINE = 0.3
TAU_COMFORT = 0.3
CONTEXT_PENALTY = 1.0
NU_RANGE = (0.8, 1.6)
RHO_RANGE = (0.3, 0.6)
KIDS_SHARE = 0.35
KIDS_ALONG = 0.5
SPLURGE = 0.05
BUDGET_P = (0.1, 0.3, 0.4, 0.2)
EPOCH = np.datetime64("2024-01-01", "D")
START_SPAN_DAYS = 731
#: P(weather | season), rows in SEASONS order, columns in WEATHERS order
#: (clear, cloudy, hot, cold, rain, snow, storm)
WEATHER_P = np.array([
    [0.35, 0.30, 0.05, 0.05, 0.20, 0.00, 0.05],  # spring
    [0.45, 0.15, 0.25, 0.00, 0.10, 0.00, 0.05],  # summer
    [0.30, 0.30, 0.00, 0.10, 0.25, 0.02, 0.03],  # autumn
    [0.25, 0.25, 0.00, 0.25, 0.10, 0.13, 0.02],  # winter
])

