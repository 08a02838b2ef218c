"""The gateway's one settings class, read from the environment (and a `.env` file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from agents.llm import LLMConfig
    from api.fleet.spec import BackendSpec
    from node_catalog.limits import GraphLimits


class Settings(BaseSettings):
    """Every knob of comfy-gateway. Environment variables use the field name in upper case."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # ComfyUI backend
    comfyui_url: str = Field("http://localhost:8188", description="Base URL of the ComfyUI server")
    comfyui_timeout: float = Field(10.0, gt=0, description="Seconds to wait for one ComfyUI HTTP answer")
    workflow_timeout: float = Field(
        600.0, gt=0, description="A job running longer is interrupted and marked timeout"
    )
    # A fleet of backends (issue 13, api.fleet)
    comfyui_urls: str = Field(
        "",
        description="Several ComfyUI backends, comma-separated, each `URL[;weight=W][;tags=a|b][;name=N]` "
        "(e.g. `http://a:8188;weight=2;tags=gpu-a100|video,http://b:8188`); empty: COMFYUI_URL alone",
    )
    fleet_health_interval: float = Field(
        2.0, gt=0, description="Seconds between health checks (/system_stats) of each fleet backend"
    )
    fleet_fail_after: int = Field(
        2, ge=1, description="Failed checks in a row that drain a backend (its unstarted jobs move on)"
    )
    fleet_retry_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between checks of a drained backend, which takes jobs again once it answers",
    )

    # Gateway
    host: str | None = Field(
        None, description="Interface to bind (default: 0.0.0.0 once an API key exists, else 127.0.0.1)"
    )
    port: int = 8000
    database_url: str = Field(
        "sqlite+aiosqlite:///./comfy_gateway.db", description="SQLAlchemy async URL of the job database"
    )
    public_base_url: str | None = Field(None, description="Base URL clients use to reach the gateway")
    output_urls: Literal["gateway", "comfyui"] = Field(
        "gateway",
        description="Output URLs point at the gateway's /api/outputs (default) or at ComfyUI's /view",
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Larger request bodies get 413 (a workflow is kilobytes)"
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024, gt=0, description="Larger uploads (POST /api/inputs, also by URL) get 413"
    )
    cors_origins: list[str] = Field(default_factory=list)
    catalog_source: Literal["live", "bundled"] = Field(
        "live", description="Node catalog from the backend's /object_info, or the bundled snapshot"
    )
    log_level: str = "INFO"
    inputs_allow_urls: bool = Field(True, description="POST /api/inputs may download a file given by `url`")
    inputs_url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts (exact names) or IPs/CIDRs that input URLs may reach although not public; "
        "loopback, private, link-local and reserved addresses and ComfyUI itself are refused otherwise",
    )
    reconcile_interval: float = Field(
        2.0, gt=0, description="Seconds between checks of live jobs against ComfyUI's /queue and /history"
    )
    # A gateway that costs nothing (issue 15): reads served from memory
    recent_jobs_cached: int = Field(
        1000,
        ge=0,
        description="Finished jobs kept in memory (least recently read out first) so their status is "
        "answered without a database read; 0: every finished job is read from the database",
    )
    queue_max_age: float = Field(
        10.0,
        gt=0,
        description="Seconds GET /api/queue answers from the gateway's event-kept view of ComfyUI's queue "
        "before refreshing it from /queue (in the background; at once past twice this)",
    )
    # Nothing lost, nothing run twice (issue 12)
    submit_confirm_window: float = Field(
        10.0,
        ge=0,
        description="Seconds a submit whose POST /prompt got no answer keeps asking ComfyUI's /queue and "
        "/history whether the job arrived, before answering",
    )
    cancel_confirm_window: float = Field(
        5.0,
        ge=0,
        description="Seconds a cancel waits for ComfyUI to confirm the job's end (deleted from its queue, "
        "or interrupted) before answering 202 `cancel requested`; the job stays running until confirmed",
    )

    # Several gateway replicas (issue 13): unset, one process with in-process events
    redis_url: str | None = Field(
        None,
        description="Redis the gateway replicas share (job events, the lease on following the backend); "
        "needs a PostgreSQL DATABASE_URL. Unset: one gateway process",
    )
    lease_ttl: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds the replica following the backend's events holds its lease without renewing "
        "it: another replica takes over this long after it died",
    )

    # Webhooks, limits, observability (issue 12)
    webhook_secret: SecretStr | None = Field(
        None,
        description="Standard Webhooks signing secret (`whsec_` + base64); "
        "without it `webhook_url` is refused",
    )
    webhook_max_attempts: int = Field(6, ge=1, le=20, description="Deliveries tried per terminal state")
    webhook_backoff: float = Field(1.0, gt=0, description="Seconds before the first retry; doubles each time")
    webhook_backoff_max: float = Field(300.0, gt=0, description="Longest wait between two attempts")
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds one delivery attempt may take")
    rate_limit_per_second: float = Field(
        0.0, ge=0, description="Requests per second per key (token bucket refill); 0 turns the limit off"
    )
    rate_limit_burst: int = Field(60, ge=1, description="Requests a key may make at once (bucket size)")
    max_pending_per_key: int = Field(
        100, ge=0, description="Unfinished jobs one key may have (429 beyond); 0 turns the quota off"
    )
    max_pending_jobs: int = Field(
        1000, ge=0, description="Unfinished jobs in the whole gateway (503 beyond); 0 turns the bound off"
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics")
    otel_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans and metrics per request (with an OpenTelemetry SDK "
        "configured); off, requests skip the per-request look for one",
    )
    metrics_port: int | None = Field(
        None, description="Serve /metrics on this port of its own instead of on the main app"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or as one JSON object each (with request and job ids)"
    )

    # Hostile input: limits checked before any expensive work (node_catalog.limits.GraphLimits)
    max_nodes: int = Field(500, ge=1, description="Nodes of one API graph")
    max_ui_nodes: int = Field(2000, ge=1, description="Nodes of a UI export, subgraph instances expanded")
    max_graph_depth: int = Field(150, ge=1, le=250, description="Longest chain of linked nodes")
    max_json_nesting: int = Field(64, ge=4, description="Nesting depth of a workflow document")
    max_string_length: int = Field(65_536, ge=1, description="Characters of any one string in a workflow")
    max_workflow_values: int = Field(200_000, ge=1, description="JSON values in one workflow document")
    max_pixels_per_graph: int = Field(
        300_000_000, ge=1, description="width x height x frames x batch of any one node (the cost policy)"
    )
    validation_budget: float = Field(
        10.0, gt=0, description="Seconds parsing and validating one workflow may take (off the event loop)"
    )

    # Generation pipeline (any OpenAI-compatible server; no key means the deterministic planner)
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    llm_fallback_to_planner: bool = True
    max_repair_attempts: int = 3
    checkpoint_db: Path = Field(
        Path("./comfy_gateway_checkpoints.db"),
        description="SQLite file recording generation runs (GET /api/workflow/generate/{thread_id}); "
        "':memory:' keeps them only while the gateway runs",
    )
    checkpoint_keep: int = Field(
        1000, ge=1, description="Generation runs kept in the checkpoint database; older ones are deleted"
    )
    templates_dir: Path | None = Field(None, description="Folder with the user's own workflow templates")
    assets_dir: Path | None = Field(
        None,
        description="Folder of the Comfy API v2 asset bytes (content-addressed); none: beside a SQLite job "
        "database (`<name>_assets`), else ./comfy_gateway_assets",
    )

    # Access (api/auth): API keys, the open-gateway bind rule, browsers
    api_keys: SecretStr | None = Field(
        None, description="Bootstrap admin keys from the environment: comma-separated `name:key`"
    )
    keys_refresh_seconds: float = Field(
        1.0,
        ge=0,
        description="Seconds the gateway trusts its in-memory copy of the database's API keys before a cheap "
        "check: a key made or revoked by `comfy-gateway keys` counts or stops within this; 0: every request",
    )
    allow_open_public: bool = Field(
        False, description="Serve a non-loopback interface although no API key exists (everyone is admin)"
    )
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host headers accepted (comma-separated; none: any host)"
    )

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return (
                json.loads(text)
                if text.startswith("[")
                else [h.strip() for h in text.split(",") if h.strip()]
            )
        return value

    @field_validator("comfyui_urls")
    @classmethod
    def _check_fleet(cls, value: str) -> str:
        from api.fleet.spec import parse_backends

        if value.strip():
            parse_backends(value, "")  # a malformed entry fails at start-up
        return value

    def backends(self) -> list[BackendSpec]:
        """The fleet's backends: COMFYUI_URLS, or COMFYUI_URL alone (the first is the primary)."""
        from api.fleet.spec import parse_backends

        return parse_backends(self.comfyui_urls, self.comfyui_url)

    @model_validator(mode="after")
    def _replicas_share_a_server_database(self) -> Settings:
        """Replicas must share their jobs: a SQLite file is one machine's (and one writer's) database."""
        if self.redis_url and self.database_url.startswith("sqlite"):
            raise ValueError(
                "REDIS_URL is set (several gateway replicas) but DATABASE_URL is a SQLite file, which "
                "replicas cannot share: set DATABASE_URL=postgresql+asyncpg://user:password@host/db, or "
                "unset REDIS_URL to run one gateway process"
            )
        return self

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        from api.auth.keys import parse_env_keys

        if value is not None:
            parse_env_keys(value.get_secret_value())  # a malformed entry fails at start-up
        return value

    # Local ComfyUI for `make run` when COMFYUI_URL is not set
    local_comfyui_port: int = 8188

    @field_validator("inputs_url_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        """The environment gives a JSON list or, friendlier, comma-separated entries."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("inputs_url_allowlist")
    @classmethod
    def _check_allowlist(cls, entries: list[str]) -> list[str]:
        from api.url_fetch import parse_allow_entry

        for entry in entries:
            parse_allow_entry(entry)  # a typo fails at start-up, not on the first download
        return entries

    def graph_limits(self) -> GraphLimits:
        """The workflow size limits and cost policy for node_catalog."""
        from node_catalog.limits import GraphLimits

        return GraphLimits(
            max_nodes=self.max_nodes,
            max_ui_nodes=self.max_ui_nodes,
            max_depth=self.max_graph_depth,
            max_nesting=self.max_json_nesting,
            max_string_length=self.max_string_length,
            max_values=self.max_workflow_values,
            max_pixels=self.max_pixels_per_graph,
        )

    def llm_config(self) -> LLMConfig | None:
        """The LLM endpoint (OPENAI_BASE_URL, OPENAI_API_KEY, ...), or None when none is configured."""
        from agents.llm import LLMConfig

        if not (self.openai_base_url or self.openai_api_key):
            return None
        return LLMConfig(
            base_url=self.openai_base_url,
            api_key=self.openai_api_key,
            model=self.llm_model,
            timeout=self.llm_timeout,
            fallback_to_planner=self.llm_fallback_to_planner,
        )
