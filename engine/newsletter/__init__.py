"""The weekly newsletter: k diverse, fresh picks per couple, as emails and CSV/JSONL, resumably.

* :mod:`.planning` - exclusions and the call to ``Recommender.batch`` (runs on workers);
* :mod:`.rendering` - the Jinja2 HTML email and its plain-text alternative;
* :mod:`.running` - chunks in-process or on Dask, files, sends, resume.

The command is ``dateideas newsletter`` (:mod:`engine.commands.newsletter`);
the design is in docs/newsletter.md.
"""

from .planning import (PICK_COLUMNS, RECENT_DATE_DAYS, RECENT_NEWSLETTERS, plan_picks, recently_done,
                       week_context, week_start)
from .rendering import email_filename, render_email, render_emails
from .running import (AlreadySentError, ChunkInput, ChunkResult, NewsletterBusyError, NewsletterError,
                      NewsletterResult, plan_chunks, run_newsletter)

__all__ = [
    "AlreadySentError",
    "ChunkInput",
    "ChunkResult",
    "NewsletterBusyError",
    "NewsletterError",
    "NewsletterResult",
    "PICK_COLUMNS",
    "RECENT_DATE_DAYS",
    "RECENT_NEWSLETTERS",
    "email_filename",
    "plan_chunks",
    "plan_picks",
    "recently_done",
    "render_email",
    "render_emails",
    "run_newsletter",
    "week_context",
    "week_start",
]
