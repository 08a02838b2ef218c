"""The LLM strategy's door to an OpenAI-compatible endpoint; the one place openai errors are translated.

Structured output: JSON Schema `response_format` where the server supports it, JSON mode otherwise (switched
once, when the server refuses the schema form). Every reply is parsed and checked with `jsonschema`; a bad
reply is sent back with the validation error and retried up to `max_retries` times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema
from pydantic import BaseModel, Field

from agents.errors import LLMBadAnswer, LLMError, LLMUnavailable

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


class LLMConfig(BaseModel):
    """How to reach the LLM. Built by `api`/`cli` from Settings; lower layers never read the environment."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://localhost:11434/v1"
    )
    api_key: str | None = Field(None, description="Key; local servers accept any non-empty string")
    model: str = "gpt-4o-mini"
    timeout: float = Field(60.0, gt=0)
    fallback_to_planner: bool = True
    max_retries: int = Field(2, ge=0, le=10, description="Extra attempts after a reply that fails its schema")
    temperature: float = Field(0.0, ge=0, le=2)


@dataclass
class Usage:
    """LLM calls and tokens spent inside one `track_usage()` block (per asyncio task, so concurrent-safe)."""

    calls: int = 0
    tokens: int = 0


_USAGE: ContextVar[Usage | None] = ContextVar("llm_usage", default=None)


@contextmanager
def track_usage() -> Iterator[Usage]:
    usage = Usage()
    token = _USAGE.set(usage)
    try:
        yield usage
    finally:
        _USAGE.reset(token)


@cache
def load_prompt(name: str) -> str:
    """A prompt file from agents/prompts/ (prompts live in files, not in code)."""
    return resources.files("agents").joinpath("prompts", name).read_text(encoding="utf-8")


class LLMClient:
    """Chat completions that must answer with JSON matching a schema."""

    def __init__(self, config: LLMConfig) -> None:
        # Imported here: the openai package costs ~25 MB of every gateway's memory, LLM configured or not.
        from openai import AsyncOpenAI

        self.config = config
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "not-needed",
            timeout=config.timeout,
            max_retries=1,
        )
        self._schema_mode = True  # flips to JSON mode once if the server refuses json_schema
        self.calls = 0

    async def aclose(self) -> None:
        await self._client.close()

    async def complete_json(self, *, system: str, user: str, schema: dict[str, Any], name: str) -> Any:
        """The parsed JSON answer, valid against `schema`."""
        # The schema also goes in the prompt: in JSON mode (servers without json_schema) it is the model's
        # only description of the expected fields.
        system = (
            f"{system}\n\nAnswer with one JSON object valid against this JSON Schema:\n{json.dumps(schema)}"
        )
        messages: list[Any] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        last_error = "no answer"
        for attempt in range(self.config.max_retries + 1):
            text = await self._chat(messages, schema, name)
            try:
                value = json.loads(_strip_fences(text))
                jsonschema.validate(value, schema)
                return value
            except json.JSONDecodeError as exc:
                last_error = (
                    f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
                )
            except jsonschema.ValidationError as exc:
                path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
                last_error = f"the reply does not match the schema at {path}: {exc.message}"
            log.info("LLM %s attempt %d rejected: %s", name, attempt + 1, last_error)
            messages.append({"role": "assistant", "content": text})
            messages.append(
                {
                    "role": "user",
                    "content": f"{last_error}. Answer again with only the corrected JSON object.",
                }
            )
        raise LLMBadAnswer(
            f"the LLM gave no valid {name} after {self.config.max_retries + 1} attempts: {last_error}"
        )

    async def _chat(self, messages: list[Any], schema: dict[str, Any], name: str) -> str:
        import openai  # the errors the seam translates (the package loads with the client)

        for _ in range(2):
            response_format: Any = (
                {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
                if self._schema_mode
                else {"type": "json_object"}
            )
            try:
                self.calls += 1
                reply = await self._client.chat.completions.create(
                    model=self.config.model,
                    messages=messages,
                    response_format=response_format,
                    temperature=self.config.temperature,
                )
            except openai.BadRequestError as exc:
                text = str(exc).lower()
                if self._schema_mode and ("response_format" in text or "json_schema" in text):
                    log.info("LLM endpoint refuses json_schema; using JSON mode")
                    self._schema_mode = False
                    continue
                raise LLMError(f"the LLM endpoint rejected the request: {_detail(exc)}") from exc
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise LLMUnavailable(
                    f"the LLM endpoint {self.config.base_url or 'api.openai.com'} is unreachable: {exc}"
                ) from exc
            except openai.AuthenticationError as exc:
                raise LLMError(f"the LLM endpoint refused the API key: {_detail(exc)}") from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500 or exc.status_code == 429:
                    raise LLMUnavailable(f"the LLM endpoint failed with HTTP {exc.status_code}") from exc
                raise LLMError(f"the LLM endpoint answered HTTP {exc.status_code}: {_detail(exc)}") from exc
            except openai.OpenAIError as exc:
                raise LLMError(f"LLM call failed: {exc}") from exc
            usage = _USAGE.get()
            if usage is not None:
                usage.calls += 1
                usage.tokens += reply.usage.total_tokens if reply.usage is not None else 0
            if not reply.choices:
                raise LLMBadAnswer("the LLM endpoint answered without any choice")
            return reply.choices[0].message.content or ""
        raise LLMError("the LLM endpoint supports neither JSON Schema nor JSON mode")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return str(exc)


def _strip_fences(text: str) -> str:
    """Some local models wrap JSON in ``` fences even in JSON mode."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped.strip()
