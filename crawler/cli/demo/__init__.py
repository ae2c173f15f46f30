"""The bundled demo site: a deterministic catalogue served on loopback."""
