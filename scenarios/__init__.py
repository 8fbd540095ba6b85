"""sqs-kit scenarios: the engine, the oracle, the targets and the `scenario` CLI."""
