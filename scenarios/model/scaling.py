"""A consumer group scaled by backlog per consumer, the way ECS target tracking scales a service.

The declaration only: the decisions are :mod:`scenarios.running.autoscaler`'s. The names and
defaults follow the Terraform module's policy (docs/terraform.md, "Autoscaling on backlog per
task"), with time compressed: AWS evaluates one data point a minute, a run here one a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class ScalingPolicy:
    """Target tracking on ``visible messages / running consumers``.

    - ``target_backlog``: the backlog per consumer to hold (Terraform's
      ``autoscaling_target_backlog_per_task``); the desired count is ``ceil(visible / target)``,
      kept within ``min_consumers``..``max_consumers``;
    - one data point every ``period_s``; a scale-out needs ``scale_out_points`` data points in a
      row above the target, a scale-in ``scale_in_points`` below it (the high and low alarms
      target tracking creates: 3 and 15 one-minute points on AWS, so it scales in slowly);
    - after a scale-out no other scale-out for ``scale_out_cooldown_s``; after a scale-in no
      other scale-in for ``scale_in_cooldown_s``, unless a scale-out cuts it short;
    - ``disable_scale_in``: the policy only adds consumers.
    """

    target_backlog: float
    min_consumers: int = 1
    max_consumers: int = 4
    scale_out_cooldown_s: float = 3.0
    scale_in_cooldown_s: float = 6.0
    period_s: float = 1.0
    scale_out_points: int = 2
    scale_in_points: int = 5
    disable_scale_in: bool = False

    def __post_init__(self) -> None:
        if not self.target_backlog > 0:
            raise ConfigError(
                f"scaling target_backlog={self.target_backlog!r} is invalid: must be > 0 "
                "(visible messages per consumer)"
            )
        if not 1 <= self.min_consumers <= self.max_consumers:
            raise ConfigError(
                f"scaling min_consumers={self.min_consumers}, max_consumers={self.max_consumers} "
                "are invalid: need 1 <= min_consumers <= max_consumers"
            )
        for name in ("scale_out_cooldown_s", "scale_in_cooldown_s"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"scaling {name}={getattr(self, name)!r} is invalid: must be >= 0"
                )
        if not self.period_s > 0:
            raise ConfigError(f"scaling period_s={self.period_s!r} is invalid: must be > 0")
        for name in ("scale_out_points", "scale_in_points"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"scaling {name}={getattr(self, name)!r} is invalid: must be >= 1"
                )

    def describe(self) -> str:
        """``backlog per consumer 20, 1-4 consumers, cooldowns out 3 s / in 6 s``."""
        scale_in = (
            "scale-in disabled"
            if self.disable_scale_in
            else f"in after {self.scale_in_points} points, cooldown {self.scale_in_cooldown_s:g} s"
        )
        return (
            f"target tracking: backlog per consumer {self.target_backlog:g}, "
            f"{self.min_consumers}-{self.max_consumers} consumers, one data point every "
            f"{self.period_s:g} s; out after {self.scale_out_points} points, cooldown "
            f"{self.scale_out_cooldown_s:g} s; {scale_in}"
        )
