"""Schedule triggers at run time: Temporal Schedules that fire cohort runs (language: dsl/schedule.py)."""
