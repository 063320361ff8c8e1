"""Personal data protection: the settings' keys, the Temporal payload codec, per-customer field keys."""
