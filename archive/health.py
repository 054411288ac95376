"""Health rules for `wa-archive status`: observations in, one level per check out.

Pure: no I/O, no clock. The caller measures (admin/status.py) and passes the time the
measurements were taken as `at`. Every threshold lives here, so the CLI, the TUI and
docs/operations.md describe one set of rules.

Levels: ok < warn < crit; the exit code of `wa-archive status` is 0, 1 or 2 for the
worst of them. A check's `value` and `threshold` are counts, ages in seconds, days or
ISO times: never message content, participants or blob names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE

Level = Literal["ok", "warn", "crit"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "crit")
EXIT_CODES: dict[Level, int] = {"ok": 0, "warn": 1, "crit": 2}
SCHEMA = "wa-archive/status@1"
RUNBOOK = "docs/operations.md"

# Defaults; `wa-archive status` takes each as an option.
MAX_QUEUE_AGE_SECONDS = 600.0  # oldest message waiting in `ingest`
MAX_LAG_SECONDS = 3600.0  # newest record written, while messages wait
SEAL_GRACE = timedelta(hours=2)  # after the seal timer's time of day
MAX_VERIFICATION_AGE = timedelta(hours=48)  # the daily verification has stopped running
# The app's default seal timer (orchestrations.seal_day.DEFAULT_SEAL_SCHEDULE; a unit test
# keeps the two equal): archive/ may not import the Functions code.
DEFAULT_SEAL_SCHEDULE = "0 30 1 * * *"

# In output order; the names are the JSON keys and the anchors of docs/operations.md.
CHECKS = (
    "ingest_depth", "ingest_age", "ingest_poison", "deadletter", "failures",
    "seal", "verification", "lag", "holds",
)


@dataclass(frozen=True)
class Thresholds:
    max_queue_age_seconds: float = MAX_QUEUE_AGE_SECONDS
    max_lag_seconds: float = MAX_LAG_SECONDS
    seal_grace: timedelta = SEAL_GRACE
    seal_schedule: str = DEFAULT_SEAL_SCHEDULE
    max_verification_age: timedelta = MAX_VERIFICATION_AGE


@dataclass(frozen=True)
class SealSeen:
    day: str  # YYYY-MM-DD the seal covers
    written: datetime | None  # when the blob was created
    seq: int
    kind: str | None = None  # primary | supplementary


@dataclass(frozen=True)
class VerificationSeen:
    run: str  # verify-YYYY-MM-DD
    ok: bool
    at: datetime | None  # when the report was written
    findings: int


@dataclass(frozen=True)
class Observations:
    queue_depths: dict[str, int]  # every pipeline queue (approximate counts)
    ingest_oldest: datetime | None  # insertion time of the first message in `ingest`
    deadletter_open: int  # dead letters not yet replayed (open `deadletter` rows)
    failures: dict[str, int]  # open IndexFailures rows per kind (deadletter excluded)
    failures_capped: bool
    last_seal: SealSeen | None
    sealed_days: frozenset[str]  # days with at least one seal
    last_verification: VerificationSeen | None
    newest_record_written: datetime | None  # newest IndexByDay row of today or yesterday
    holds_in_force: int


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    value: Any
    threshold: Any
    summary: str  # one line for people, ids and counts only
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "value": self.value, "threshold": self.threshold,
                "summary": self.summary, "runbook": f"{RUNBOOK}#{self.name}",
                **self.extra}


@dataclass(frozen=True)
class Health:
    at: datetime
    checks: tuple[Check, ...]

    @property
    def level(self) -> Level:
        return max((c.level for c in self.checks), key=LEVELS.index, default="ok")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.level]

    def counts(self) -> dict[Level, int]:
        return {lvl: sum(1 for c in self.checks if c.level == lvl) for lvl in LEVELS}

    def summary(self) -> str:
        counts = self.counts()
        return (f"status {self.level.upper()}: {len(self.checks)} checks, {counts['ok']} ok, "
                f"{counts['warn']} warn, {counts['crit']} crit")

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "at": iso(self.at), "level": self.level,
                "exit_code": self.exit_code, "counts": self.counts(),
                "checks": {c.name: c.to_json() for c in self.checks}}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def age(at: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, round((at - moment).total_seconds(), 1))


def _earliest(spec: str, top: int) -> int | None:
    """The smallest value an NCRONTAB field matches: `*`, `*/n`, `a-b`, `a,b`, `a-b/n`."""
    values: list[int] = []
    for part in spec.split(","):
        base = part.split("/", 1)[0]
        if base in ("*", "?"):
            values.append(0)
            continue
        start = base.split("-", 1)[0]
        if not start.isdigit() or int(start) > top:
            return None
        values.append(int(start))
    return min(values) if values else None


def first_run_of_day(schedule: str) -> time | None:
    """When a daily NCRONTAB (`sec min hour * * *`) first fires each day; None otherwise.

    A schedule that skips days (a day-of-month, month or weekday field) has no daily
    deadline, so the missed-seal rule is not applied to it.
    """
    fields = schedule.split()
    if len(fields) != 6 or any(f not in ("*", "?") for f in fields[3:]):
        return None
    second, minute, hour = (_earliest(fields[0], 59), _earliest(fields[1], 59),
                            _earliest(fields[2], 23))
    if second is None or minute is None or hour is None:
        return None
    return time(hour, minute, second, tzinfo=UTC)


def seal_deadline(at: datetime, thresholds: Thresholds) -> datetime | None:
    """By when yesterday's seal (relative to `at`) must exist; None for a non-daily timer."""
    fires = first_run_of_day(thresholds.seal_schedule)
    if fires is None:
        return None
    return datetime.combine(at.astimezone(UTC).date(), fires) + thresholds.seal_grace


def _queues(obs: Observations, at: datetime, th: Thresholds) -> list[Check]:
    depth = obs.queue_depths.get(INGEST_QUEUE, 0)
    oldest = age(at, obs.ingest_oldest)
    late = oldest is not None and oldest > th.max_queue_age_seconds
    poison = obs.queue_depths.get(INGEST_POISON_QUEUE, 0)
    others = {q: n for q, n in obs.queue_depths.items()
              if q not in (INGEST_QUEUE, INGEST_POISON_QUEUE)}
    return [
        Check("ingest_depth", "ok", depth, None, f"~{depth} message(s) waiting in ingest",
              {"queues": dict(obs.queue_depths)} if others else {}),
        Check("ingest_age", "warn" if late else "ok", oldest, th.max_queue_age_seconds,
              "ingest empty" if oldest is None else
              f"oldest ingest message {oldest:.0f}s old (max {th.max_queue_age_seconds:.0f}s)"),
        Check("ingest_poison", "crit" if poison else "ok", poison, 0,
              f"{poison} message(s) in ingest-poison"),
    ]


def _deadletter(obs: Observations) -> Check:
    n = obs.deadletter_open
    return Check("deadletter", "crit" if n else "ok", n, 0,
                 f"{n} dead letter(s) not replayed")


def _failures(obs: Observations) -> Check:
    total = sum(obs.failures.values())
    open_kinds = {k: n for k, n in obs.failures.items() if n}
    listed = ", ".join(f"{k} {n}" for k, n in sorted(open_kinds.items())) or "none"
    more = "+" if obs.failures_capped else ""
    return Check("failures", "warn" if total else "ok", total, 0,
                 f"{total}{more} open failure row(s): {listed}",
                 {"by_kind": dict(obs.failures), "capped": obs.failures_capped})


def _seal(obs: Observations, at: datetime, th: Thresholds) -> Check:
    yesterday = (at.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    deadline = seal_deadline(at, th)
    last = obs.last_seal
    extra = {"last_day": last.day if last else None,
             "last_written": iso(last.written) if last else None,
             "expected_day": yesterday, "deadline": iso(deadline)}
    seen = f"last seal {last.day} (written {iso(last.written) or '?'})" if last else "no seal yet"
    if deadline is None:
        return Check("seal", "ok", last.day if last else None, None,
                     f"{seen}; seal schedule {th.seal_schedule!r} is not daily: "
                     "missed-seal rule off", extra)
    if yesterday in obs.sealed_days:
        return Check("seal", "ok", last.day if last else yesterday, iso(deadline),
                     f"{seen}; {yesterday} sealed", extra)
    if last is None and at >= deadline:
        # A new archive: nothing sealed yet, so no chain has a gap. Still worth a look.
        return Check("seal", "warn", None, iso(deadline),
                     f"no seal yet; {yesterday} has no seal, due by {iso(deadline)}", extra)
    if at >= deadline:
        return Check("seal", "crit", last.day if last else None, iso(deadline),
                     f"{seen}; {yesterday} has no seal, due by {iso(deadline)}", extra)
    return Check("seal", "ok", last.day if last else None, iso(deadline),
                 f"{seen}; {yesterday} due by {iso(deadline)}", extra)


def _verification(obs: Observations, at: datetime, th: Thresholds) -> Check:
    last = obs.last_verification
    limit = th.max_verification_age.total_seconds()
    if last is None:
        # A new archive seals its first day before the first verification runs.
        cutoff = (at - th.max_verification_age).astimezone(UTC).date().isoformat()
        overdue = any(day < cutoff for day in obs.sealed_days)
        return Check("verification", "warn" if overdue else "ok", None, limit,
                     "never verified" + (f", with seals from before {cutoff}" if overdue else ""),
                     {"run": None, "ok": None, "findings": None, "age_seconds": None})
    old = age(at, last.at)
    extra = {"run": last.run, "ok": last.ok, "findings": last.findings, "age_seconds": old,
             "written": iso(last.at)}
    if not last.ok:
        return Check("verification", "crit", "failed", limit,
                     f"last verification {last.run} failed: {last.findings} finding(s)", extra)
    if old is not None and old > limit:
        return Check("verification", "warn", "passed", limit,
                     f"last verification {last.run} passed but is {old / 3600:.0f}h old", extra)
    return Check("verification", "ok", "passed", limit,
                 f"last verification {last.run} passed", extra)


def _lag(obs: Observations, at: datetime, th: Thresholds) -> Check:
    lag = age(at, obs.newest_record_written)
    waiting = obs.queue_depths.get(INGEST_QUEUE, 0) > 0
    # A quiet night is not lag: only messages waiting while nothing is written is.
    # With nothing written in two days, the oldest waiting message tells how far behind.
    behind_by = lag if lag is not None else age(at, obs.ingest_oldest)
    behind = waiting and behind_by is not None and behind_by > th.max_lag_seconds
    if lag is None:
        text = "no record written today or yesterday"
    else:
        text = f"newest record written {lag:.0f}s ago"
    if not waiting:
        text += " (ingest empty: idle, not lagging)"
    return Check("lag", "warn" if behind else "ok", lag, th.max_lag_seconds, text,
                 {"newest_record_written": iso(obs.newest_record_written)})


def _holds(obs: Observations) -> Check:
    n = obs.holds_in_force
    return Check("holds", "ok", n, None, f"{n} legal-hold matter(s) in force")


def evaluate(obs: Observations, at: datetime, thresholds: Thresholds | None = None) -> Health:
    """Every check of `obs`, measured at `at` (timezone-aware)."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    th = thresholds or Thresholds()
    checks = [*_queues(obs, at, th), _deadletter(obs), _failures(obs), _seal(obs, at, th),
              _verification(obs, at, th), _lag(obs, at, th), _holds(obs)]
    assert tuple(c.name for c in checks) == CHECKS
    return Health(at.astimezone(UTC), tuple(checks))
