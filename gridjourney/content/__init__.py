"""Message content: Jinja2 templates per channel and locale, rendering, SMS segment counting.

Layout of a templates folder::

    templates/{channel}/{locale}/{name}.j2      e.g. templates/sms/es/high_bill_alert.j2

Email (and push) templates start with a `Subject: ...` line; the body follows after it (a blank line
between them is dropped). SMS templates are the body only. Any template may start with a
`Purpose: safety` line (before the subject): it marks the content as safety content, which a journey
with `purpose: safety` requires of every template it sends; the line itself is never sent. A
customer whose locale has no template gets the `en` one (`es-MX` tries `es-MX`, then `es`, then `en`).

Email also gets an HTML part, rendered with autoescape on: `email/{locale}/{name}.html.j2` when it
exists, else the text's paragraphs and `- ` lists in `email/layout.html.j2`. Push templates may give
the page a notification opens on a `URL: https://...` (or `URL: /path`) line right after the subject.

The context a template sees at send time:
    customer  customer_id, name, locale, time_zone, plus the customer's attributes merged in
    event     the trigger event's payload plus `type` and `occurred_at` (ISO 8601 strings for times);
              in a cohort run, the run's event as its `cohort.updates` last changed it
    journey   id, version
    performance  after a cohort's `dr_performance` step: known, kwh_saved, credit, responded
Undefined names are errors (StrictUndefined); templates run in Jinja2's sandbox.

A published journey version pins the templates it sends (content/pinning.py says which, content/
pinned.py holds them): its messages render from those sources, not from the folder as it is when they
go out, so an edited template reaches only versions published after the edit. Versions published
before pinning, and previews of unpublished files, read the folder.
"""

from gridjourney.content.render import (
    RenderedMessage,
    TemplateLookups,
    TemplateProblem,
    render,
    template_exists,
    template_locales,
    template_purpose,
)
from gridjourney.content.sms import sms_segments
from gridjourney.content.template_reads import template_reads, template_variables

__all__ = [
    "RenderedMessage",
    "TemplateLookups",
    "TemplateProblem",
    "render",
    "sms_segments",
    "template_exists",
    "template_locales",
    "template_purpose",
    "template_reads",
    "template_variables",
]
