"""The application facade: what the service and the CLI call.

``service/`` and ``engine/commands/`` import from here (and from
:mod:`engine.domain` and :mod:`engine.config`), never from the layers below:
the recommender and tonight's serving, training and the retrain queue, the
model registry and the live-model holder, the store opener and its errors,
the practice (prompts, today's nudges) and the newsletter run. The rules and
the picture are in docs/architecture.md; tests/test_architecture.py enforces
them.

Names are imported on first use (PEP 562), so ``import engine.app`` and the
CLI's ``--help`` stay fast. They are looked up in their defining module on
every access (not cached here), so the facade hands out what that module
holds now, a test's monkeypatch included.
"""

from __future__ import annotations

from ..domain.lazy import lazy_exports

#: public name -> the module (relative to this package) that defines it; a module
#: named by itself (``"retrain_queue": ".retrain_queue"``) is exported whole
_EXPORTS = {
    # the recommender, tonight's serving and the live model (this package)
    "Recommender": ".recommender",
    "Suggestion": ".recommender",
    "LiveModel": ".live",
    "StorePort": ".ports",
    "Ranker": ".ports",
    "ANOTHER_PER_DAY": ".serving",
    "NOTE_MAX": ".serving",
    "RECENT_DAYS": ".serving",
    "AnotherLimitError": ".serving",
    "DateInputError": ".serving",
    "Tonight": ".serving",
    "check_date_input": ".serving",
    "seconds_until_tomorrow": ".serving",
    "serve_tonight": ".serving",
    # training, the retrain queue and the demo (this package)
    "TrainResult": ".training",
    "target_params": ".training",
    "train_and_maybe_promote": ".training",
    "retrain_queue": ".retrain_queue",
    "DemoResult": ".demo",
    "build_demo": ".demo",
    # the model registry: versions, promote, rollback, pin, unpin, prune
    "ArtifactError": "..learning.registry",
    "NoModelError": "..learning.registry",
    "Registry": "..learning.registry",
    # the store: opener, schema version and errors
    "LATEST_VERSION": "..store",
    "NOT_FOR_US": "..store",
    "SAVED": "..store",
    "CouplesExistError": "..store",
    "Store": "..store",
    "StoreError": "..store",
    "UnknownCoupleError": "..store",
    "ValidationError": "..store",
    "open_store": "..store",
    # the practice: conversation prompts and today's nudges
    "PromptMarkError": "..practice",
    "check_prompts": "..practice",
    "mark_prompt": "..practice",
    "prompt_state": "..practice",
    "prompts_path": "..practice",
    "PARTNERS": "..practice",
    "check_nudges": "..practice",
    "mark_done": "..practice",
    "nudges_path": "..practice",
    "today_for": "..practice",
    # the weekly newsletter, its delivery (SMTP) and the emails' signed links
    "AlreadySentError": "..newsletter",
    "LinkError": "..newsletter",
    "MailLinks": "..newsletter",
    "SmtpSender": "..newsletter",
    "confirmation_message": "..newsletter",
    "deliver_newsletter": "..newsletter",
    "deliver_daily": "..newsletter",
    "read_link": "..newsletter",
    "read_week_picks": "..newsletter",
    "NewsletterBusyError": "..newsletter",
    "NewsletterError": "..newsletter",
    "run_newsletter": "..newsletter",
}

__all__ = sorted(_EXPORTS)

#: looked up in the defining module on every access (not cached here)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, cache=False)
