"""Backtest: replay a period of the event log through one journey without sending or starting
workflows, with the engine's own decisions (router/matching.py, entry/plan.py, workflows/decisions.py,
activities/eligibility.py `judge`)."""
