"""Stand-ins for outside services (the SMS provider), for tests, benchmarks and local development."""
