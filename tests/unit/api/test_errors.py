"""Error rendering and the translation of ComfyUI client errors (the one seam)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from api.errors import (
    BackendError,
    BackendUnavailable,
    InvalidWorkflow,
    NotFoundError,
    install_error_handlers,
    translate_comfy_error,
)
from comfyui_client import BadResponse, ComfyTimeout, ComfyUnavailable, NotFound, PromptRejected


def test_translation_table() -> None:
    assert isinstance(translate_comfy_error(ComfyUnavailable("refused")), BackendUnavailable)
    assert isinstance(translate_comfy_error(ComfyTimeout("slow")), BackendUnavailable)
    assert isinstance(translate_comfy_error(NotFound("gone")), NotFoundError)
    assert isinstance(translate_comfy_error(BadResponse("odd", status_code=500)), BackendError)
    rejected = translate_comfy_error(PromptRejected({"type": "prompt_no_outputs", "message": "no outputs"}))
    assert isinstance(rejected, InvalidWorkflow) and rejected.status_code == 400
    assert rejected.body()["error"]["type"] == "prompt_no_outputs" and rejected.body()["node_errors"] == {}
    assert translate_comfy_error(ValueError("x")) is None


def test_invalid_workflow_message_names_nodes() -> None:
    err = InvalidWorkflow.from_comfy_body(
        {
            "error": {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
            },
            "node_errors": {
                "1": {
                    "class_type": "EmptyImage",
                    "errors": [
                        {
                            "type": "value_smaller_than_min",
                            "message": "Value too small",
                            "details": "width: -5 < 1",
                        }
                    ],
                }
            },
        }
    )
    assert "node 1 (EmptyImage): Value too small: width: -5 < 1" in err.message


async def test_handlers_503_retry_after_and_500_for_bugs() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/down")
    async def down() -> None:
        raise ComfyUnavailable("connection refused")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("oops")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        resp = await http.get("/down")
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert resp.json()["code"] == "comfyui_unavailable"
        resp = await http.get("/bug")
        assert resp.status_code == 500 and "oops" not in resp.text
