"""The engine: runs a scenario's phases on a target - traffic, consumers, faults, observation."""
