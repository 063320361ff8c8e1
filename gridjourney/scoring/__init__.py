"""Scoring: segments, anomalies, bill projections and propensity models from interval reads."""
