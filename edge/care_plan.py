"""The resident's care plan at the edge: NEWS2 SpO2 scale, supplemental oxygen, trend rules.

    plan = care_plan(settings)        # what the detectors use (VitalsAdapter, TrendsAdapter)

The installer's `edge.toml` gives the first plan (`news2_scale`, `on_oxygen`,
`trends.rules`). The hub's `care_plan` command (`sensors.commands`) changes it: the whole
resulting plan is written atomically to `care_plan.json` beside the spool, and from then
on that file wins over `edge.toml` (the hub is where a care plan is kept up to date). A
file that cannot be read is set aside (`.bad`), logged at ERROR, and the configured plan
is used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from edge.config import EdgeSettings, TrendRuleSettings
from edge.detectors.news2 import SpO2Scale
from edge.detectors.trends import DEFAULT_RULES, Metric, RuleKind, TrendRule
from edge.state_file import read_state, set_aside, write_atomic
from sensors.commands import CarePlanUpdate, RuleSpec
from sensors.contract import Severity
from sensors.errors import CommandRefused

log = logging.getLogger(__name__)

STATE_VERSION: Final = 1
FILE_NAME: Final = "care_plan.json"


@dataclass(frozen=True, slots=True)
class CarePlan:
    news2_scale: int = 1  # SpO2 scale 2 only when prescribed
    on_oxygen: bool = False
    rules: tuple[TrendRuleSettings, ...] | None = None  # None: DEFAULT_RULES
    updated_at: float | None = None  # when the hub last changed it (None: edge.toml's)

    @property
    def spo2_scale(self) -> SpO2Scale:
        return SpO2Scale.SCALE_2 if self.news2_scale == 2 else SpO2Scale.SCALE_1

    @property
    def trend_rules(self) -> tuple[TrendRule, ...]:
        if self.rules is None:
            return DEFAULT_RULES
        return tuple(
            TrendRule(
                r.name, Metric(r.metric), RuleKind(r.kind), r.delta, r.days, Severity(r.severity)
            )
            for r in self.rules
        )


def care_plan_path(settings: EdgeSettings) -> Path:
    return settings.spool.path.parent / FILE_NAME


def configured_plan(settings: EdgeSettings) -> CarePlan:
    rules = settings.trends.rules
    return CarePlan(
        settings.news2_scale, settings.on_oxygen, None if rules is None else tuple(rules)
    )


def care_plan(settings: EdgeSettings) -> CarePlan:
    """The care plan in force: the hub's last update if one was saved, else edge.toml's."""
    path = care_plan_path(settings)
    if not path.exists():
        return configured_plan(settings)
    text = read_state(path, "care plan")
    if text is None:
        return configured_plan(settings)
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError("not a care plan file of version 1")
        scale, oxygen, rules = raw["news2_scale"], raw["on_oxygen"], raw["rules"]
        if scale not in (1, 2) or type(oxygen) is not bool:
            raise ValueError("news2_scale or on_oxygen out of range")
        plan = CarePlan(
            int(scale),
            oxygen,
            None if rules is None else tuple(TrendRuleSettings(**r) for r in rules),
            float(raw["updated_at"]),
        )
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError too
        set_aside(path, "care plan", exc)
        return configured_plan(settings)
    return plan


def _rule(spec: RuleSpec) -> TrendRuleSettings:
    try:
        return TrendRuleSettings(
            name=spec.name,
            metric=spec.metric,
            kind=spec.kind,
            delta=spec.delta,
            days=spec.days,
            severity=spec.severity,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise CommandRefused("bad_args", f"rule {spec.name!r:.40}: {where} {first['msg']}") from exc


def updated(plan: CarePlan, update: CarePlanUpdate, now: float) -> CarePlan:
    """`plan` with the hub's `update`; CommandRefused ("bad_args") for a rule the edge's
    own config model refuses."""
    if update.rules is None:
        rules = plan.rules
    elif update.rules == "default":
        rules = None
    else:
        rules = tuple(_rule(s) for s in update.rules)
    return CarePlan(
        plan.news2_scale if update.news2_scale is None else update.news2_scale,
        plan.on_oxygen if update.on_oxygen is None else update.on_oxygen,
        rules,
        now,
    )


def save_care_plan(path: Path, plan: CarePlan) -> None:
    """Atomic (temp file, fsync, rename); raises OSError when it cannot be written."""
    write_atomic(
        path,
        json.dumps(
            {
                "version": STATE_VERSION,
                "news2_scale": plan.news2_scale,
                "on_oxygen": plan.on_oxygen,
                "rules": None if plan.rules is None else [r.model_dump() for r in plan.rules],
                "updated_at": plan.updated_at,
            },
            separators=(",", ":"),
        ),
    )
