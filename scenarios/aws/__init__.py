"""Real AWS: the guardrails before a run (confirmation, plan, cost) and the cleanup after."""
