"""The compliance policy (`policy.yaml`): its model, its loader, and the rules evaluated from it."""

from gridjourney.policy.model import Policy

__all__ = ["Policy"]
