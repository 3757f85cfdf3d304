"""The HTTP service (``consent-sync serve``): webhooks, admin API, consent capture, health, metrics."""
