"""Projections: folds of the event log into read tables (customers, consents, messages, journey
instances, suppressions, push subscriptions, program enrolments, DR events; the outages fold lives
with its domain in gridjourney/incidents), kept current by the "projections" subscription and
rebuildable from the log.

One module per projection holds all of its SQL; `runner` applies them and rebuilds; `queries` is the
read side the API and activities use.
"""
