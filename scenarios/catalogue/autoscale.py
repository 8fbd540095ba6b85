"""autoscale: a ramp of traffic, and a fleet scaled by backlog per consumer, out and back in.

The engine scales the consumers the way ECS target tracking scales a service on the Terraform
module's policy (docs/terraform.md): one data point a second of ``visible / running``, against
a target backlog per consumer; out after 2 points above it (cooldown 3 s), in after 3 points
below it (cooldown 5 s), within 1..``scaled_consumers``. The traffic is a ramp sent while the
consumers run:

- steady: ``count / 10`` messages at ``rate`` msg/s, which one consumer keeps up with (0.1 s
  of work each, about 7 msg/s);
- burst: ``count`` messages at once: the backlog per consumer jumps far above the target and
  the fleet scales out to its maximum;
- quiet: one message a second for 5 s: the backlog is gone and the fleet scales back in (the
  phase settles only once the fleet is back at its minimum, however long the drain took).

A scale-in SIGTERMs the newest consumers: each stops receiving, finishes or releases what it
holds and exits 0 - the drain ECS relies on when it stops a task - and the oracle still finds
every message completed once. The phenomenon is the fleet growing *and* shrinking, with every
stopped consumer drained.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.scaling import ScaledOutAndIn
from scenarios.model import ConsumerGroup, ConsumerSettings, Phase, ScalingPolicy, Segment, Traffic
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

#: visible messages per consumer the policy holds the fleet to
TARGET_BACKLOG = 10
QUIET_S = 5


class Autoscale(Scenario):
    name = "autoscale"
    summary = "A traffic ramp; the fleet scales out on the backlog per consumer, then back in."
    defaults = Knobs(
        # a burst of 80: 8 times the target for one consumer, so the fleet scales out to its
        # maximum (the desired count is capped at 4) and drains it within the quiet segment
        count=80,
        consumers=1,
        scaled_consumers=4,
        rate=5.0,
        max_messages=1,
        visibility_timeout=10,
        sleep_min=0.1,
        sleep_max=0.1,
        shutdown_timeout=5.0,
    )
    expected_s = 9.5
    # Not cpu_bound: its drain is bounded by the work's sleep (4 consumers x 0.1 s a message,
    # at most ~40 msg/s, ~0.4 of a core), not by the CPU as `burst`'s is. Beside `burst` it
    # takes longer (17-27 s at 150 messages, not 11-14 s), but its phenomenon has no window:
    # the fleet scales out while the backlog lasts and back in once it is gone, however long.
    # a scale-in is a SIGTERM, as ECS sends it
    plugged_in = "each scale-in is a SIGTERM: it must hand back what it holds and exit 0"
    needs = BASE_NEEDS

    def policy(self, k: Knobs) -> ScalingPolicy:
        return ScalingPolicy(
            target_backlog=TARGET_BACKLOG,
            min_consumers=k.consumers,
            max_consumers=max(k.consumers, k.scaled_consumers),
            scale_out_cooldown_s=3.0,
            scale_in_cooldown_s=5.0,
            period_s=1.0,
            scale_out_points=2,
            scale_in_points=3,
        )

    def phases(self, k: Knobs) -> Sequence[Phase]:
        shape = (
            Segment(max(1, k.count // 10), rate=k.rate, label="steady"),
            Segment(k.count, label="burst"),
            Segment(QUIET_S, rate=1.0, label="quiet"),
        )
        fleet = ConsumerGroup(
            k.consumers, ConsumerSettings.from_knobs(k), label="fleet", scaling=self.policy(k)
        )
        return [
            Phase.from_knobs(
                k,
                name="ramp",
                note="steady, burst, quiet",
                traffic=Traffic.shaped(k, shape),
                consumers=(fleet,),
                expect=(ScaledOutAndIn(),),
            )
        ]
