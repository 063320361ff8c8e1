"""Demand response: each member's measured reduction, and the program manager's event report."""
