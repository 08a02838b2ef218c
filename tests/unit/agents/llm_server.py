"""A small OpenAI-compatible chat-completions server on loopback that plays scripted replies.

The code under test talks to it through the real `openai` client, so everything above the wire is real.
A reply is a string (the assistant's content), a `(status, body)` tuple for an HTTP error, or a callable
taking the request body and returning either.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | tuple[int, dict[str, Any]]
Script = Reply | Callable[[dict[str, Any]], Reply]


class ScriptedLLM:
    def __init__(self) -> None:
        self.script: list[Script] = []
        self.default: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, *script: Script, default: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script = list(script)
        self.default = default
        self.requests = []

    def _next(self, body: dict[str, Any]) -> Reply:
        item: Script
        if self.script:
            item = self.script.pop(0)
        elif self.default is not None:
            item = self.default
        else:
            return (500, {"error": {"message": "script exhausted", "type": "server_error"}})
        return item(body) if callable(item) else item

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                reply = outer._next(body)
                if isinstance(reply, tuple):
                    status, payload = reply
                else:
                    status, payload = (
                        200,
                        {
                            "id": f"chatcmpl-{len(outer.requests)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": body.get("model", "scripted"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": reply},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def schema_name(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name") if fmt.get("type") == "json_schema" else None


def enum_choices(body: dict[str, Any]) -> list[str]:
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    return list(schema.get("properties", {}).get("node", {}).get("enum", []))
