"""The couple's practice beside the ideas: pillars in balance, prompts that deepen, daily nudges.

* :mod:`.pillars` - every couple's picks cover the four pillars over a rolling four weeks;
* :mod:`.prompt_catalog` - the prompt catalog (``data/prompts.csv``) read and checked;
* :mod:`.prompt_depth` - how deep a couple's prompts go, from what they marked;
* :mod:`.prompt_choice` - the one choice of a prompt per suggestion;
* :mod:`.prompts` - prompts attached to tonight's suggestions and the newsletter's, and marked;
* :mod:`.today` - one appreciation nudge per partner per day, and a kind streak.

Each module's ``NO_REPEAT_DAYS`` is its own (prompts 84 days, nudges 14), so neither is
named here: use :data:`.prompt_choice.NO_REPEAT_DAYS` or :data:`.today.NO_REPEAT_DAYS`.
This package imports only :mod:`engine.domain`; the store is passed in, never imported.
"""

from .pillars import (
                      CANDIDATES,
                      MIN_PILLARS,
                      PILLARS,
                      TONIGHT_EXTRA,
                      WEIGHT,
                      WINDOW_WEEKS,
                      balance_picks,
                      balance_tonight,
                      candidates_for,
                      dated_pillars,
                      idea_pillars,
)
from .prompt_catalog import (
                      DEPTHS,
                      Prompt,
                      PromptCatalog,
                      PromptCheck,
                      check_prompts,
                      default_prompts,
                      load_prompts,
                      prompts_path,
)
from .prompt_choice import choose_many, choose_prompts, idea_words
from .prompt_depth import STATUSES, STEP, STEP_BACK, couple_depth, depth_of
from .prompts import (
                      PromptMarkError,
                      attach_prompts,
                      mark_prompt,
                      prompt_rows,
                      prompt_state,
                      prompt_window,
                      week_prompts,
)
from .today import (
                      KINDS,
                      NEEDS,
                      PARTNERS,
                      RECENT_DATE_DAYS,
                      Nudge,
                      check_nudges,
                      default_nudges,
                      load_nudges,
                      mark_done,
                      nudges_path,
                      pick_nudge,
                      streak,
                      today_for,
)

__all__ = [
    "CANDIDATES",
    "DEPTHS",
    "KINDS",
    "MIN_PILLARS",
    "NEEDS",
    "Nudge",
    "PARTNERS",
    "PILLARS",
    "Prompt",
    "PromptCatalog",
    "PromptCheck",
    "PromptMarkError",
    "RECENT_DATE_DAYS",
    "STATUSES",
    "STEP",
    "STEP_BACK",
    "TONIGHT_EXTRA",
    "WEIGHT",
    "WINDOW_WEEKS",
    "attach_prompts",
    "balance_picks",
    "balance_tonight",
    "candidates_for",
    "check_nudges",
    "check_prompts",
    "choose_many",
    "choose_prompts",
    "couple_depth",
    "dated_pillars",
    "default_nudges",
    "default_prompts",
    "depth_of",
    "idea_pillars",
    "idea_words",
    "load_nudges",
    "load_prompts",
    "mark_done",
    "mark_prompt",
    "nudges_path",
    "pick_nudge",
    "prompt_rows",
    "prompt_state",
    "prompt_window",
    "prompts_path",
    "streak",
    "today_for",
    "week_prompts",
]
