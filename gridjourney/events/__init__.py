"""The event store: append-only log, event type schemas, subscriptions with checkpoints."""
