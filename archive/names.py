"""Names of the archive account's resources: one source for app, Bicep, devhost and docs."""

from __future__ import annotations

RAW_CONTAINER = "raw"
RECORDS_CONTAINER = "records"
MEDIA_CONTAINER = "media"
AUDIT_CONTAINER = "audit"
# Daily signed manifests, verification reports and disposal certificates.
SEALS_CONTAINER = "seals"
# Poison queue messages drained so that they never age out of the queue.
DEADLETTER_CONTAINER = "deadletter"
# Bodies that failed re-verification in the worker: kept (create-only), never parsed.
QUARANTINE_CONTAINER = "quarantine"
# In DESIGN.md's order (a consistency test compares them).
CONTAINERS = (
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    MEDIA_CONTAINER,
    AUDIT_CONTAINER,
    SEALS_CONTAINER,
    DEADLETTER_CONTAINER,
    QUARANTINE_CONTAINER,
)

INGEST_QUEUE = "ingest"
INGEST_POISON_QUEUE = f"{INGEST_QUEUE}-poison"
QUEUES = (INGEST_QUEUE, INGEST_POISON_QUEUE)

TABLE_BY_MESSAGE = "IndexByMessage"
# Also holds each conversation's rows, in its customer's partition (archive.index); the
# IndexByConversation table of earlier versions is no longer created, written or read.
TABLE_BY_PARTICIPANT = "IndexByParticipant"
TABLE_BY_DAY = "IndexByDay"
TABLE_FAILURES = "IndexFailures"
# Keyword search's inverted index: one row per distinct term of a record (archive.text_index).
TABLE_BY_TERM = "IndexByTerm"
# Lexicon hits awaiting review: one row per (record, policy version) that a policy flagged
# (archive.flags). Written by the app only; review decisions are blobs in `audit`.
TABLE_FLAGS = "Flags"
# Legal-hold matters: scope, who placed and released them, when and why (one row a matter).
TABLE_HOLDS = "Holds"
INDEX_TABLES = (
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_BY_DAY,
    TABLE_FAILURES,
    TABLE_HOLDS,
    TABLE_BY_TERM,
    TABLE_FLAGS,
)

# Letters and digits only: the Durable Azure Storage provider derives queue,
# table and container names from it.
TASK_HUB = "WaArchiveHub"

# App settings read by the code (see README "Settings"). These are setting
# names, not values: the S105 password heuristic does not apply.
SETTING_HOST_STORAGE = "AzureWebJobsStorage"
SETTING_ARCHIVE_STORAGE = "ARCHIVE_STORAGE"
SETTING_APP_SECRET = "WHATSAPP_APP_SECRET"  # noqa: S105
SETTING_VERIFY_TOKEN = "WHATSAPP_VERIFY_TOKEN"  # noqa: S105
SETTING_ACCESS_TOKEN = "WHATSAPP_ACCESS_TOKEN"  # noqa: S105
SETTING_GRAPH_URL = "WHATSAPP_GRAPH_URL"
SETTING_RETENTION_DAYS = "ARCHIVE_RETENTION_DAYS"
SETTING_MAX_WEBHOOK_BYTES = "MAX_WEBHOOK_BYTES"
SETTING_MAX_MEDIA_BYTES = "MAX_MEDIA_BYTES"
# Comma-separated hosts media may be fetched from (https only); a default covers Meta.
SETTING_MEDIA_HOST_ALLOWLIST = "MEDIA_HOST_ALLOWLIST"
# Key only the app can read (Key Vault secret): MACs bodies that carry no provider
# signature (outbound captures), so custody can be re-checked later.
SETTING_CUSTODY_MAC_KEY = "CUSTODY_MAC_KEY"
# Comma-separated business phone-number ids (or numbers) outbound captures may come from.
SETTING_OUTBOUND_SENDERS = "OUTBOUND_SENDER_IDS"
# NCRONTAB of the timer that drains ingest-poison into `deadletter` (Bicep: every 5 min).
SETTING_POISON_DRAIN_SCHEDULE = "POISON_DRAIN_SCHEDULE"
# Versionless Key Vault key id the daily manifests are signed with (Bicep sets it).
SETTING_MANIFEST_KEY_ID = "MANIFEST_SIGNING_KEY_ID"
# NCRONTAB of the timer that seals the day before (Bicep: daily at 01:30 UTC).
SETTING_SEAL_SCHEDULE = "SEAL_SCHEDULE"
# NCRONTAB of the timer that verifies the archive against its seals (Bicep: daily 03:30 UTC).
SETTING_VERIFY_SCHEDULE = "VERIFY_SCHEDULE"
# Seconds each process trusts its cached list of in-force legal-hold matters (1-60).
SETTING_HOLD_CACHE_SECONDS = "HOLD_CACHE_SECONDS"
# NCRONTAB of the retention timer that disposes of expired records (Bicep: daily 04:30 UTC).
SETTING_RETENTION_SCHEDULE = "RETENTION_SCHEDULE"
# Client id of the user-assigned identity the retention and legal-hold code runs under
# (it alone may delete blob versions and set legal holds; the app identity only creates).
SETTING_RETENTION_IDENTITY = "RETENTION_IDENTITY_CLIENT_ID"

# Providers other than Meta (issue 13). Secrets live in Key Vault and reach the app as
# references (storage.settings refuses an unresolved one).
SETTING_WASENDER_WEBHOOK_SECRET = "WASENDER_WEBHOOK_SECRET"  # noqa: S105
SETTING_WASENDER_API_KEY = "WASENDER_API_KEY"
# WASender API base URL (default https://www.wasenderapi.com/api); tests point it at a stand-in.
SETTING_WASENDER_API_URL = "WASENDER_API_URL"
SETTING_TWILIO_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"  # noqa: S105
SETTING_TWILIO_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
# The public https base URL providers call: Twilio signs the full URL it called, and
# behind the Functions front end the Host header is not that URL.
SETTING_PUBLIC_BASE_URL = "PUBLIC_BASE_URL"
# Azure Communication Services: the resource endpoint media is downloaded from, and how
# Event Grid deliveries authenticate (an Entra ID bearer token for ACS_WEBHOOK_AUDIENCE in
# ACS_WEBHOOK_TENANT_ID, or a shared secret in the delivery URL: ACS_WEBHOOK_SECRET).
SETTING_ACS_ENDPOINT = "ACS_ENDPOINT"
SETTING_ACS_WEBHOOK_AUDIENCE = "ACS_WEBHOOK_AUDIENCE"
SETTING_ACS_WEBHOOK_TENANT_ID = "ACS_WEBHOOK_TENANT_ID"
SETTING_ACS_WEBHOOK_SECRET = "ACS_WEBHOOK_SECRET"  # noqa: S105
# Where the Entra ID signing keys are read (default: the tenant's v2.0 discovery keys);
# tests point it at a local issuer.
SETTING_ACS_WEBHOOK_KEYS_URL = "ACS_WEBHOOK_KEYS_URL"
