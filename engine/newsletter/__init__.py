"""The weekly newsletter: k diverse, fresh picks per couple, as emails and CSV/JSONL, resumably.

* :mod:`.planning` - exclusions and the call to ``Recommender.batch`` (runs on workers);
* :mod:`.rendering` - the Jinja2 HTML email and its plain-text alternative;
* :mod:`.chunks` - chunks of couples planned in-process or on Dask;
* :mod:`.outputs` - the files: emails, part files, picks, summary, the staging swap;
* :mod:`.running` - the run: the week's lock, chunks, files, sends, resume;
* :mod:`.delivery` - ``--send``: the emails through SMTP, throttled, at most once per week and address;
* :mod:`.daily` - ``dateideas today --send``: each opted-in partner's Today nudge, once a day;
* :mod:`.links` - the emails' signed links (confirm, rate it signed in, one-click unsubscribe);
* :mod:`.errors` - what stops a run.

The command is ``dateideas newsletter`` (:mod:`engine.commands.newsletter`);
the design is in docs/newsletter.md.
"""

from .chunks import ChunkInput, ChunkResult, plan_chunks
from .daily import DailyResult, daily_message, deliver_daily
from .delivery import (
                       DeliveryResult,
                       SmtpSender,
                       confirmation_message,
                       deliver_newsletter,
                       newsletter_message,
                       read_week_picks,
)
from .errors import AlreadySentError, NewsletterBusyError, NewsletterError
from .links import LINK_MAX_AGE, LINK_PATHS, LinkError, MailLinks, read_link
from .planning import (
                       PICK_COLUMNS,
                       RECENT_DATE_DAYS,
                       RECENT_NEWSLETTERS,
                       plan_picks,
                       recently_done,
                       week_context,
                       week_start,
)
from .rendering import email_filename, email_subject, render_email, render_emails
from .running import NewsletterResult, run_newsletter

__all__ = [
    "AlreadySentError",
    "ChunkInput",
    "ChunkResult",
    "DailyResult",
    "DeliveryResult",
    "LINK_MAX_AGE",
    "LINK_PATHS",
    "LinkError",
    "MailLinks",
    "SmtpSender",
    "confirmation_message",
    "daily_message",
    "deliver_daily",
    "deliver_newsletter",
    "email_subject",
    "newsletter_message",
    "read_link",
    "read_week_picks",
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
