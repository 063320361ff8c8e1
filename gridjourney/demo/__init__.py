"""The demo of the embedded stack: a small synthetic utility and a day of events for four journeys."""
