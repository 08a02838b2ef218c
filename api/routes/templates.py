"""Templates as a product: list, inspect, and submit a verified workflow with parameter values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import JobsDep, SettingsDep
from api.errors import ApiError, NotFoundError
from api.routes.generation import template_library
from api.schemas.workflow import SubmitResponse
from pipeline.templates import TemplateNotFound, TemplateParameterError

router = APIRouter(prefix="/api/templates", tags=["templates"])


class TemplateParameterInvalid(ApiError):
    status_code = 422
    code = "invalid_template_parameter"


class TemplateSubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default_factory=dict, examples=[{"prompt": "a fox in snow", "frames": 49}]
    )
    extra_data: dict[str, Any] = Field(default_factory=dict)


@router.get("", summary="List the workflow templates")
async def list_templates(http: Request, settings: SettingsDep) -> dict[str, Any]:
    return {"templates": [t.summary() for t in template_library(http, settings)]}


@router.get("/{name}", summary="A template: typed parameters with defaults and ranges, its graph")
async def get_template(name: str, http: Request, settings: SettingsDep) -> dict[str, Any]:
    try:
        return template_library(http, settings).get(name).public()
    except TemplateNotFound as exc:
        raise NotFoundError(exc.message) from exc


@router.post("/{name}/submit", response_model=SubmitResponse, summary="Render a template and submit it")
async def submit_template(
    name: str,
    body: TemplateSubmitBody,
    http: Request,
    settings: SettingsDep,
    jobs: JobsDep,
) -> SubmitResponse:
    try:
        template = template_library(http, settings).get(name)
        workflow = template.render(body.parameters)
    except TemplateNotFound as exc:
        raise NotFoundError(exc.message) from exc
    except TemplateParameterError as exc:
        raise TemplateParameterInvalid(exc.message, extra={"parameter": exc.parameter}) from exc
    job = await jobs.submit(
        workflow,
        extra_data=body.extra_data or None,
        request={"template": name, "version": template.version, **body.model_dump(mode="json")},
        source="template",
    )
    return SubmitResponse(prompt_id=job.prompt_id, status="pending", message=f"Template {name} submitted")
