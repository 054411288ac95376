"""Every assumption of the cost model that is not a price or a measured call count.

Each default is stated and justified in docs/cost.md; the CLI exposes the workload
ones as options. Sizes are KiB (1024 bytes); a storage GB is 2^30 bytes, a Log
Analytics GB is 10^9 bytes (as each service bills).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from archive.cost.inputs import InputError


@dataclass(frozen=True)
class MediaClass:
    name: str
    kib: float
    share: float  # of media items


@dataclass(frozen=True)
class Workload:
    events_per_day: float
    years: int = 7
    growth: float = 0.0  # per year, compounding the daily events
    media_share: float = 0.3  # events carrying one media item
    status_share: float = 0.0  # status events (sent/delivered/read)
    duplicate_share: float = 0.0  # redelivered webhooks (nothing new is stored)
    media: tuple[MediaClass, ...] = (MediaClass("media", 150.0, 1.0),)
    raw_kib: float = 2.0  # a verbatim webhook body of one event
    record_kib: float = 3.0  # a canonical record with custody and raw pointer
    # One Table index row as Azure bills it (keys and properties in UTF-16, plus the
    # Timestamp): about 1.1 KB for a term row, 1.3 KB for a by-day row, measured by
    # bench.text_search (issue 16); it was 0.5 KiB, a guess, before that.
    index_row_kib: float = 1.1
    seal_leaf_bytes: float = 200.0  # one leaf (container, name, size, sha256) in a seal
    audit_blobs_per_day: float = 20.0
    audit_kib: float = 1.0

    def check(self) -> None:
        if self.events_per_day < 0 or self.years < 1 or self.growth <= -1:
            raise InputError("workload: events per day >= 0, years >= 1, growth > -100%")
        shares = (self.media_share, self.status_share, self.duplicate_share)
        if any(s < 0 for s in shares) or sum(shares) > 1:
            raise InputError(
                "workload: media, status and duplicate shares must be >= 0 and add up to at most 1"
            )
        if abs(sum(m.share for m in self.media) - 1) > 1e-9 or any(m.kib < 0 for m in self.media):
            raise InputError("workload: media class shares must add up to 1, sizes >= 0")

    @property
    def text_share(self) -> float:
        return 1 - self.media_share - self.status_share - self.duplicate_share

    def events_per_day_in(self, year: int) -> float:
        """Daily events in year `year` (1-based): growth compounds once a year."""
        return self.events_per_day * (1 + self.growth) ** (year - 1)


@dataclass(frozen=True)
class Platform:
    # Functions Flex Consumption: instance memory (bicep main.bicep instanceMemoryMB)
    # and the active time of one invocation of each kind.
    memory_mb: int = 2048
    ms_http: float = 40.0
    ms_queue_trigger: float = 120.0
    ms_orchestrator_episode: float = 20.0
    ms_activity: float = 150.0
    ms_media_activity: float = 400.0
    timer_seconds_per_day: float = 2400.0  # seal, verify, retention, reconcile
    # Flex bills an instance's memory while it executes anything: invocations that
    # overlap on one instance share the billed seconds. 1.0 = no overlap (upper bound).
    overlap: float = 1.0
    # Log Analytics: billed bytes per invocation (host "Executing"/"Executed" traces,
    # our id-only log lines, request telemetry).
    log_bytes_per_invocation: float = 500.0
    # Durable backend: "azure-storage" (the default provider) or "dts" (Durable Task
    # Scheduler, Consumption SKU).
    durable_backend: str = "azure-storage"
    durable_partitions: int = 4  # control queues / lease blobs (DTFx default)
    lease_renew_seconds: float = 10.0
    # Under load DTFx polls each control queue and the work-item queue about once a
    # second (it backs off to 30 s only when they are empty).
    durable_poll_seconds: float = 1.0
    durable_history_kib_per_orchestration: float = 3.0  # never purged (ingest/worker.py)
    ingest_idle_polls_per_minute: float = 30.0  # host.json maxPollingInterval 2 s
    # Sealing lists a day's blobs 5,000 per call; verification lists them again and
    # reads each new blob once to re-hash it.
    list_page_blobs: float = 5000.0
    verify_reads_per_blob: float = 1.0
    # Key Vault: the daily seal signature (ES256: an EC key, an "advanced" key
    # operation), one public-key read for verification, and the app settings' Key
    # Vault references refreshed once a day (nine references).
    kv_signs_per_day: float = 1.0
    kv_key_reads_per_day: float = 1.0
    kv_secret_reads_per_day: float = 9.0

    def check(self) -> None:
        if self.durable_backend not in ("azure-storage", "dts"):
            raise InputError("platform: durable backend must be azure-storage or dts")
        if (
            min(self.memory_mb, self.lease_renew_seconds, self.durable_poll_seconds, self.overlap)
            <= 0
        ):
            raise InputError("platform: memory, overlap, lease and poll intervals must be > 0")


@dataclass(frozen=True)
class Assumptions:
    workload: Workload
    platform: Platform = field(default_factory=Platform)

    def check(self) -> None:
        self.workload.check()
        self.platform.check()

    def to_json(self) -> dict[str, object]:
        return asdict(self)
