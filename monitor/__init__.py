"""ALPR access monitor: the pure domain core (no Kafka imports)."""
