"""Cohort runs: one workflow per utility-scale event, its members as rows (workflows/cohort.py)."""
