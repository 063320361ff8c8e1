"""What providers send back to the engine: signed webhooks (delivery reports, inbound replies,
unsubscribes) turned into events."""
