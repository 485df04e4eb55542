"""lapor-gateway: the daemon, HTTP server, config, CLI, outbox, publisher and metrics."""
