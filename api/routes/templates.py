"""Templates as a product: list, inspect, and submit a verified workflow with parameter values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ReadAccess, SubmitAccess
from api.deps import JobsDep, SettingsDep, TemplatesDep
from api.errors import ApiError, NotFoundError
from api.limits import SUBMIT_RESPONSES, admit_jobs, note_jobs
from api.schemas.errors import error_responses
from api.schemas.workflow import WEBHOOK_URL_DESCRIPTION, SubmitResponse
from api.webhooks import check_webhook_url
from pipeline.templates import TemplateNotFound, TemplateParameterError

router = APIRouter(prefix="/api/templates", tags=["templates"])


class TemplateParameterInvalid(ApiError):
    status_code = 422
    code = "invalid_template_parameter"


class TemplateSubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default_factory=dict, max_length=64, examples=[{"prompt": "a fox in snow", "frames": 49}]
    )
    extra_data: dict[str, Any] = Field(default_factory=dict, max_length=32)
    webhook_url: str | None = Field(None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)


@router.get("", summary="List the workflow templates")
async def list_templates(templates: TemplatesDep, _: ReadAccess) -> dict[str, Any]:
    """Every template's summary."""
    return {"templates": [t.summary() for t in templates]}


@router.get(
    "/{name}",
    summary="A template: typed parameters with defaults and ranges, its graph",
    responses=error_responses(404),
)
async def get_template(name: str, templates: TemplatesDep, _: ReadAccess) -> dict[str, Any]:
    """One template's public form."""
    try:
        return templates.get(name).public()
    except TemplateNotFound as exc:
        raise NotFoundError(exc.message) from exc


@router.post(
    "/{name}/submit",
    response_model=SubmitResponse,
    summary="Render a template and submit it",
    responses={**error_responses(400, 404), **SUBMIT_RESPONSES},
)
async def submit_template(
    name: str,
    body: TemplateSubmitBody,
    request: Request,
    templates: TemplatesDep,
    jobs: JobsDep,
    settings: SettingsDep,
    principal: SubmitAccess,
) -> SubmitResponse:
    """Render the template with the given parameter values and submit it like any workflow."""
    caller = await admit_jobs(request)
    await check_webhook_url(body.webhook_url, settings)
    try:
        template = templates.get(name)
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
        owner=principal.owner,
    )
    note_jobs(request, caller, job.prompt_id)
    return SubmitResponse(prompt_id=job.prompt_id, status="pending", message=f"Template {name} submitted")
