"""One settings object for the whole project (environment prefix ``STOCKFLOW_``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stockflow.i18n import Language, company_language
from stockflow.signals import CALENDAR_FILE


class SimulatedCompany(StrEnum):
    """The simulated companies `stockflow up` can play (`simulator.run`)."""

    #: 2 distribution centres and 6 shops selling a few hundred SKUs (`simulator.company`).
    RETAIL = "retail"
    #: A restaurant brand: a central kitchen and 3 restaurants cooking to recipes
    #: (`simulator.restaurant`).
    RESTAURANT = "restaurant"
    #: An office-furniture maker: a plant, a finished-goods warehouse and a painting
    #: subcontractor, work orders to bills of materials (`simulator.factory`).
    FACTORY = "factory"


class Edition(StrEnum):
    """What the platform runs for: a trading company with stock, or a service business."""

    #: 进销存: stock, its stream, its books, its flows and pages.
    STANDARD = "standard"
    #: 进销存(无库存版): service items, service orders, fulfilment, consumption and revenue at
    #: 6% VAT; the stock module (its topics, agents, flows and pages) is not there at all.
    NO_STOCK = "no_stock"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKFLOW_", env_file=".env", extra="ignore")

    # The company's time zone: business days, voucher dates, schedules and what pages show.
    timezone: str = Field(default="Asia/Shanghai", description="an IANA time zone name")
    # The company's locale, and the interface's language (pages, CLI output): unset → from the
    # locale (zh-CN → Simplified Chinese). Each person can switch on the dashboard.
    locale: str = Field(default="zh-CN", description="e.g. zh-CN, en-US")
    language: str | None = Field(default=None, description="zh_CN | en; unset: from the locale")

    # The edition (`stockflow init --edition`): standard, or no_stock for a service business.
    edition: Edition = Field(default=Edition.STANDARD, description="standard | no_stock")

    # Broker: unset → the embedded Tansu broker on 127.0.0.1:broker_port.
    kafka_url: str | None = Field(default=None, description="e.g. kafka://broker1:9092,broker2:9092")
    broker_host: str = "127.0.0.1"
    broker_port: int = 9092
    topic_partitions: int = Field(default=4, ge=1)
    # Kafka security, passed to every client (workers, producers, flows); unset: PLAINTEXT.
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL"
    )
    kafka_sasl_mechanism: str = Field(default="PLAIN", description="PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle that signed the brokers")
    kafka_ssl_certfile: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = None

    # Files
    var_dir: Path = Path("var")

    # Kitchens (restaurants): the quality check flags a location whose ingredients' usage over
    # the last `recipe_variance_days` strays from what the recipes say by more than this share of
    # the theoretical usage's value (Σ per ingredient of |variance value| ÷ theoretical value).
    recipe_variance_limit: Decimal = Field(default=Decimal("0.05"), gt=0, le=10)
    recipe_variance_days: int = Field(default=7, ge=1, le=366)

    # Workers
    app_id: str = "stockflow"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    batch_max_events: int = Field(default=1000, ge=1)
    batch_window_seconds: float = Field(default=0.01, gt=0)
    lake_flush_seconds: float = Field(default=1.0, gt=0)
    producer_linger_seconds: float = Field(default=0.005, ge=0, description="batch produced messages")
    session_timeout_seconds: float = Field(default=6.0, gt=0)
    checkpoint_every_events: int = Field(
        default=20_000, ge=1, description="a partition's state is checkpointed after this many events"
    )
    checkpoint_every_seconds: float = Field(
        default=300.0, gt=0, description="...or this long after its last checkpoint, if it changed"
    )
    checkpoints_kept: int = Field(default=3, ge=1, description="checkpoints kept per partition")
    embedded_fetch_wait_ms: int = Field(default=10, ge=1, description="Tansu holds a fetch this long")
    open_items_refresh_seconds: float = Field(
        default=1.0, gt=0, description="the credit check looks for newer open items at most this often"
    )

    # Who may call the workers' HTTP API: every endpoint but /health needs a credential
    # (`stockflow devices add`); `auth_required=false` only for benchmarks on a closed machine.
    auth_required: bool = True
    api_token: str | None = Field(
        default=None, description="the credential this process presents (unset: var/service.token)"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers the workers answer besides localhost/127.0.0.1/[::1] and web_host",
    )
    # What the stream refuses: event times outside [event_time_earliest, now + event_time_max_ahead],
    # request bodies above these sizes, JSON nested deeper than this.
    event_time_earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    event_time_max_ahead_hours: float = Field(default=24.0, gt=0)
    events_max_body_kb: int = Field(default=1024, ge=1, description="largest POST /events body")
    alerts_max_body_kb: int = Field(default=256, ge=1, description="largest POST /alerts body")
    masterdata_max_body_kb: int = Field(default=8192, ge=1, description="largest POST /masterdata body")
    json_max_depth: int = Field(default=32, ge=2, description="deepest JSON nesting any endpoint takes")

    # Fault injection for the fault suite: "before_lake_write=3,after_lake_write=2" kills the
    # worker (SIGKILL) at the 3rd lake write, after its derived messages are on the broker and
    # before the rows are written (or after the write, before the ack). Empty: none.
    failpoints: str = ""

    # `stockflow up`: a process that dies is restarted after a backoff that doubles up to this.
    restart_backoff_max_seconds: float = Field(default=30.0, gt=0)
    drain_timeout_seconds: float = Field(default=60.0, gt=0, description="Ctrl-C waits this long for lag 0")

    # Flows: the local Prefect server, and the voucher posting flow
    prefect_host: str = "127.0.0.1"
    prefect_port: int = 4200
    voucher_interval_seconds: int = Field(default=60, ge=1, description="post_vouchers schedule")
    accounting_policy_file: Path | None = Field(
        default=None, description="JSON chart of accounts and rules; unset: 小企业会计准则 defaults"
    )
    warehouse_interval_seconds: int = Field(default=300, ge=10, description="incremental dbt builds")
    voucher_poll_seconds: float = Field(default=5.0, gt=0, description="passes within one run")
    reconcile_interval_seconds: int = Field(default=900, ge=10, description="reconcile_stock schedule")
    reconcile_full_replay_hours: float = Field(
        default=24.0, gt=0, description="reconcile_stock replays the whole lake this often"
    )
    reconcile_repair: bool = Field(
        default=True,
        description="reconcile_stock sends corrections and count adjustments (else reports only)",
    )

    # Inbound pallet inspection (the workers' POST /inspections and `stockflow inspect`).
    inspection_model: Path | None = Field(
        default=None, description="ONNX detector; unset: the model committed under vision/models"
    )
    inspection_max_mb: int = Field(default=25, ge=1, description="largest photo POST /inspections takes")
    inspection_max_pixels: int = Field(
        default=40_000_000, ge=1, description="largest photo (width × height), checked before decoding"
    )
    inspection_photos_keep_days: int = Field(default=90, ge=1, description="annotated photos kept this long")

    # Dashboard (Streamlit): named accounts (`stockflow users add NAME --role ROLE`), argon2id
    # hashes; an account is locked for a while after repeated failed sign-ins.
    sign_in_max_failures: int = Field(default=5, ge=1, description="failed sign-ins before a lockout")
    sign_in_lockout_minutes: float = Field(default=15.0, gt=0)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    dashboard_cache_seconds: int = Field(default=30, ge=1, description="how long a query result is reused")
    dashboard_refresh_seconds: int = Field(default=5, ge=1, description="live stock auto-refresh")

    # Webhooks: a JSON list of subscribers (see stockflow/webhooks.py); unset: var/webhooks.json
    webhooks_file: Path | None = None
    webhook_per_minute: int = Field(default=20, ge=1, description="messages per robot per minute")

    # Delivery platforms' callbacks (POST /platforms/{platform}/callbacks, see
    # stockflow/delivery_platforms.py): each platform signs with its app secret; a platform
    # without one is refused. Callbacks sent further than the skew from this clock are refused.
    meituan_app_secret: SecretStr | None = Field(default=None, description="signs Meituan callbacks")
    eleme_app_secret: SecretStr | None = Field(default=None, description="signs Ele.me callbacks")
    platform_callback_max_skew_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="a callback's timestamp may be this far from now"
    )
    platform_callback_max_body_kb: int = Field(default=256, ge=1, description="largest callback body")

    # Audit: the chain's head is also written here (every verify and every N entries), so a
    # truncated log is detected; put it on another disk or a WORM share in production.
    audit_anchor_file: Path | None = Field(default=None, description="unset: var/audit_anchors.jsonl")
    # The company's rules (`stockflow.compliance`): a YAML file; none there: no rules.
    policies_file: Path | None = Field(default=None, description="unset: var/policies.yaml")
    audit_anchor_every: int = Field(default=100, ge=1)

    # Retention and encryption (`stockflow.retention`, `stores.crypto`, the apply_retention flow):
    # personal data in the history is pseudonymised this many months after it stopped being in
    # use; the books and the audit trail are kept this many years untouched. Personal fields are
    # encrypted at rest with SM4 under the key file (`stockflow keys init`), which lies outside
    # var_dir; with encryption on, nothing writes master data without it.
    retention_personal_months: int = Field(default=6, ge=1, le=1200)
    retention_books_years: int = Field(default=30, ge=1, le=100)
    retention_hour: int = Field(default=4, ge=0, le=23, description="apply_retention runs daily at this hour")
    encrypt_personal_data: bool = Field(default=False, description="SM4-encrypt personal fields at rest")
    key_file: Path | None = Field(
        default=None, description="unset: stockflow/personal-data.key in the user's config folder"
    )

    # Rules
    near_expiry_days: int = Field(default=3, ge=0)
    excursion_minutes: float = Field(default=15.0, ge=0)
    #: Cold-chain goods: readings of a curve further apart than this (or a sensor's span not
    #: covered to within it) do not prove custody; the goods are received into quarantine.
    curve_max_gap_minutes: float = Field(default=30.0, gt=0)
    #: Cold-chain goods must arrive with their temperature curve (食品 GSP: 出入库绑定温度曲线):
    #: a receipt or transfer in without one is received into quarantine.
    cold_chain_custody: bool = False
    #: An excursion that lasts `excursion_minutes` holds the cold-chain batches on hand where it
    #: happened (a quality hold), besides its alert; off: the alert only.
    excursion_holds: bool = True

    # Simulator: `stockflow up` plays the simulated company unless this is a company's own
    # (`stockflow init` writes simulated=false into the company's .env).
    simulated: bool = Field(default=True, description="run the simulated company (false: your own data)")
    simulated_company: SimulatedCompany = Field(
        default=SimulatedCompany.RETAIL,
        description="which simulated company: retail (warehouses and shops), restaurant (a central "
        "kitchen and restaurants) or factory (a plant making office furniture to bills of materials)",
    )
    company_name: str = Field(default="", description="the company's name, as pages and messages show it")
    seed: int = 7
    history_days: int = Field(default=60, ge=0)
    live_rate: float = Field(default=20.0, ge=0, description="events per second in live mode")

    # Edge agent (`stockflow edge run`): a store box or PDA gateway that takes its devices'
    # events into a local outbox and forwards them to the workers when it can reach them.
    edge_name: str = Field(default="edge", description="this agent's name (it heads what it forwards)")
    edge_central_url: str = Field(
        default="http://127.0.0.1:6066", description="a worker's HTTP API (any worker: it routes)"
    )
    edge_token: str | None = Field(default=None, description="the agent's own credential for the workers")
    edge_locations: list[str] = Field(default_factory=list, description="the locations this agent serves")
    edge_host: str = "127.0.0.1"
    edge_port: int = 6070
    edge_outbox_path: Path | None = Field(default=None, description="unset: var/edge/outbox.sqlite3")
    edge_batch_events: int = Field(default=500, ge=1, le=1000, description="events per forwarding request")
    edge_backoff_max_seconds: float = Field(default=30.0, gt=0, description="longest wait between tries")
    edge_resend_after_seconds: float = Field(
        default=30.0, gt=0, description="forwarded but unknown to the workers this long: send it again"
    )
    edge_sync_seconds: float = Field(
        default=60.0, gt=0, description="how often the stock snapshot and master data are synced"
    )
    edge_request_timeout_seconds: float = Field(default=10.0, gt=0)

    # MQTT devices (`stockflow mqtt-bridge`): sensors, scales, RFID gates and heartbeats publish
    # to an MQTT broker; the bridge maps each device's payload onto events. Unset mqtt_url:
    # `stockflow up` starts a local mosquitto on 127.0.0.1:mqtt_port.
    mqtt_url: str | None = Field(default=None, description="e.g. mqtts://mqtt.example.com:8883")
    mqtt_port: int = Field(default=1884, description="the local mosquitto's port (mqtt_url unset)")
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: Path | None = Field(default=None, description="CA bundle that signed the broker (mqtts)")
    mqtt_cert_file: Path | None = Field(default=None, description="the bridge's certificate (mutual TLS)")
    mqtt_key_file: Path | None = None
    mqtt_topic_filter: str = Field(default="stockflow/devices/#", description="what the bridge subscribes to")
    mqtt_client_id: str = Field(default="stockflow-mqtt-bridge", description="the bridge's MQTT session")
    devices_registry_file: Path | None = Field(default=None, description="unset: var/devices.json")
    device_check_seconds: float = Field(default=5.0, gt=0, description="how often silence is checked")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time zone {value!r} is not an IANA time zone name (Area/City)") from exc
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def interface_language(self) -> Language:
        return company_language(self.locale, self.language)

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_url

    @property
    def broker_url(self) -> str:
        return self.kafka_url or f"kafka://{self.broker_host}:{self.broker_port}"

    @property
    def bootstrap_servers(self) -> str:
        """host:port list for plain Kafka clients."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker_url.split(","))

    @property
    def lake_dir(self) -> Path:
        return self.var_dir / "lake"

    @property
    def checkpoints_dir(self) -> Path:
        """The workers' checkpoints of their partitions' state (next to the lake they summarise)."""
        return self.lake_dir / "_checkpoints" / "stock"

    @property
    def reconciliation_checkpoints_dir(self) -> Path:
        """The reconciliation's own checkpoints of the ledger replayed from the lake alone."""
        return self.lake_dir / "_checkpoints" / "reconciliation"

    @property
    def edge_outbox(self) -> Path:
        """The edge agent's outbox (SQLite)."""
        return self.edge_outbox_path or self.var_dir / "edge" / "outbox.sqlite3"

    @property
    def local_mqtt(self) -> bool:
        """No broker of the company's own: `stockflow up` starts mosquitto on 127.0.0.1."""
        return not self.mqtt_url

    @property
    def mqtt_broker_url(self) -> str:
        return self.mqtt_url or f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def devices_registry_path(self) -> Path:
        """The MQTT device registry (device → location, kind, payload mapping)."""
        return self.devices_registry_file or self.var_dir / "devices.json"

    @property
    def devices_seen_path(self) -> Path:
        """When the bridge last heard each device, and which are silent (the dashboards read it)."""
        return self.var_dir / "devices_seen.json"

    @property
    def masterdata_path(self) -> Path:
        return self.var_dir / "masterdata.json"

    @property
    def signals_path(self) -> Path:
        """The planning calendar of known future signals (holidays, weather, promotions)."""
        return self.var_dir / CALENDAR_FILE

    @property
    def reconciliation_path(self) -> Path:
        """The discrepancy reports of the reconciliation runs (DuckDB)."""
        return self.var_dir / "reconciliation.duckdb"

    @property
    def audit_anchor_path(self) -> Path:
        return self.audit_anchor_file or self.var_dir / "audit_anchors.jsonl"

    @property
    def key_path(self) -> Path:
        """The personal-data key file (SM4 and pseudonymisation keys), outside the data folder."""
        if self.key_file is not None:
            return self.key_file
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "stockflow" / "personal-data.key"

    @property
    def policies_path(self) -> Path:
        """The rules file the workers and the CLI check against (absent: no rules)."""
        return self.policies_file or self.var_dir / "policies.yaml"

    @property
    def approvals_path(self) -> Path:
        """The approvals queue (`stores.approvals`)."""
        return self.var_dir / "approvals" / "approvals.jsonl"

    @property
    def credentials_path(self) -> Path:
        """Devices' and services' credentials (hashes only)."""
        return self.var_dir / "credentials.json"

    @property
    def service_token_path(self) -> Path:
        """The credential `stockflow up` makes for its own processes (mode 0600)."""
        return self.var_dir / "service.token"

    @property
    def accounts_path(self) -> Path:
        """People's dashboard accounts (argon2id hashes, failed sign-ins, lockouts)."""
        return self.var_dir / "accounts.json"

    @property
    def webhooks_path(self) -> Path:
        return self.webhooks_file or self.var_dir / "webhooks.json"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.dashboard_host}:{self.dashboard_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.prefect_host}:{self.prefect_port}/api"

    def platform_secret(self, platform: str) -> str | None:
        """The app secret that signs a delivery platform's callbacks (None: not set up)."""
        secret = {"meituan": self.meituan_app_secret, "eleme": self.eleme_app_secret}.get(platform)
        return (secret.get_secret_value() or None) if secret is not None else None

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
