"""sqs-kit scenarios: what to run, how it runs, how it is judged and reported.

- ``model``: what a scenario declares (phases, consumer groups, traffic, faults, needs);
- ``running``: the engine (the scenario template method, phase execution, faults, traffic);
- ``judging``: the facts, the oracle, the phenomena and the report's numbers;
- ``reporting``: the JSON report, the console view, the PNG timeline and the diff;
- ``targets`` and ``runners``: where consumers run (local, aws) and how (process, docker, ecs);
- ``aws``: the guardrails before an AWS run and the cleanup after;
- ``catalogue``: the scenarios; ``cli``: the `scenario` command.
"""
