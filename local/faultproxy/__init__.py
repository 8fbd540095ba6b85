"""An AWS-protocol fault proxy (issue 16), also the recording pass-through of issue 13.

It sits between consumers and an endpoint (an emulator), speaks SQS's JSON and query protocols
and DynamoDB's JSON protocol, injects faults from a seeded plan, with errors shaped like AWS's
so botocore retries them as it would on AWS, and records every fired fault and every call::

    from local.faultproxy import FaultProxy, load_plan

    with FaultProxy("http://127.0.0.1:4566", load_plan("plan.yaml")) as proxy:
        run_consumers(AWS_ENDPOINT_URL=proxy.endpoint)
        proxy.set_plan(next_phase_plan)
        ...
    proxy.fired_counts()   # {"ack_dropped": 3, "throttle": 12}

The engine is the kit's own small relay, on blocking sockets with a thread per client
connection; docs/faults.md says why.
"""

from local.faultproxy.errors import FaultProxyError, PlanError, UpstreamError, UpstreamTimeout
from local.faultproxy.plan import FaultKind, Latency, Plan, Rule, load_plan
from local.faultproxy.proxy import FaultProxy
from local.faultproxy.records import CallRecord, FiredFault, Recorder, read_records

__all__ = [
    "CallRecord",
    "FaultKind",
    "FaultProxy",
    "FaultProxyError",
    "FiredFault",
    "Latency",
    "Plan",
    "PlanError",
    "Recorder",
    "Rule",
    "UpstreamError",
    "UpstreamTimeout",
    "load_plan",
    "read_records",
]
