"""The router: a subscription on the event log that starts journeys and signals running ones."""
