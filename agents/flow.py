"""Flow: Intent -> link list. Planner: fill a verified template. LLM: write it, templates as few-shot."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.compose import OPERATIONS, Plan, compose, file_type
from agents.compose.fragments import FragmentLibrary
from agents.compose.plan import Step, step_ref
from agents.errors import LinkListError, NoTemplateError
from agents.intent import Intent, Task
from agents.linklist import LINK_LIST_JSON_SCHEMA, LinkList, parse_link_list
from agents.llm import LLMClient, load_prompt
from agents.values import apply_intent, require_inputs
from node_catalog import Catalog
from node_catalog.linklist import api_to_linklist

# Intent fields a template parameter of the same name takes.
_PARAM_FIELDS = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "width": "width",
    "height": "height",
    "frames": "frames",
    "fps": "fps",
    "seed": "seed",
    "steps": "steps",
    "guidance": "guidance",
    "denoise": "denoise",
    "upscale_factor": "upscale_factor",
    "color": "color",
    "image": "input_image",
    "video": "input_video",
}


class TemplateLike(Protocol):
    """What Flow needs of a template (pipeline.templates.Template satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def parameters(self) -> Mapping[str, Any]: ...
    @property
    def workflow(self) -> dict[str, dict[str, Any]]: ...

    def render(
        self, values: Mapping[str, Any] | None = None, *, ignore_unknown: bool = False
    ) -> dict[str, Any]: ...


class TemplateSource(Protocol):
    def select(
        self, task: str, family: str | None = None, *, model_free: bool | None = None
    ) -> Sequence[Any]: ...


@dataclass
class FlowOutcome:
    link_list: LinkList
    template: str | None
    notes: list[str] = field(default_factory=list)  # widget values written from the request


class FlowAgent(Protocol):
    """Built once per generator; the run's catalog comes with each call (it is refreshed between runs)."""

    name: str

    async def flow(
        self, intent: Intent, catalog: Catalog, models: Mapping[str, Sequence[str]] | None = None
    ) -> FlowOutcome: ...


def template_values(template: TemplateLike, intent: Intent) -> dict[str, Any]:
    """Intent fields -> parameter values the template declares (numbers clamped to its ranges)."""
    values: dict[str, Any] = {}
    for param, intent_field in _PARAM_FIELDS.items():
        if param not in template.parameters:
            continue
        value = getattr(intent, intent_field)
        if value is None or value == "":
            continue
        spec = template.parameters[param]
        lo, hi = getattr(spec, "min", None), getattr(spec, "max", None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if lo is not None:
                value = max(value, lo)
            if hi is not None:
                value = min(value, hi)
        values[param] = value
    for key, value in intent.extra_params.items():
        if key in template.parameters:
            values[key] = value
    return values


def choose_template(
    source: TemplateSource, intent: Intent, models: Mapping[str, Sequence[str]] | None
) -> TemplateLike:
    task = intent.task
    family = intent.model_family if intent.model_family not in {None, "none"} else None
    model_free = None
    if task == "upscale":
        # A model-based upscale only when the backend really has an upscale model (or it was asked for).
        wants_model = bool(intent.extra_params.get("model_name")) or bool(
            (models or {}).get("upscale_models")
        )
        model_free = not wants_model
    candidates = list(source.select(task, family, model_free=model_free))
    if not candidates:
        raise NoTemplateError(f"no template for the task {task!r}")
    return candidates[0]  # type: ignore[no-any-return]


def from_template(template: TemplateLike, intent: Intent, catalog: Catalog) -> FlowOutcome:
    """A template filled from the intent: its parameters first, then every other matching widget."""
    values = template_values(template, intent)
    doc = api_to_linklist(template.render(values, ignore_unknown=True), catalog)
    notes = [f"{template.name}.{k}={v!r}" for k, v in values.items()]
    notes += apply_intent(doc, intent, catalog)
    require_inputs(doc, intent, catalog)
    return FlowOutcome(doc, template.name, notes)


class PlannerFlow:
    """Deterministic: the best template for the task and model family, filled from the intent."""

    name = "planner"

    def __init__(self, templates: TemplateSource) -> None:
        self.templates = templates

    async def flow(
        self, intent: Intent, catalog: Catalog, models: Mapping[str, Sequence[str]] | None = None
    ) -> FlowOutcome:
        return from_template(choose_template(self.templates, intent, models), intent, catalog)


class LLMFlow:
    """The LLM writes the link list; the closest templates are its few-shot examples."""

    name = "llm"

    def __init__(self, llm: LLMClient, templates: TemplateSource) -> None:
        self.llm = llm
        self.templates = templates

    async def flow(
        self, intent: Intent, catalog: Catalog, models: Mapping[str, Sequence[str]] | None = None
    ) -> FlowOutcome:
        examples = []
        try:
            template = choose_template(self.templates, intent, models)
            example = api_to_linklist(template.workflow, catalog)
            examples.append({"template": template.name, "link_list": example.to_document()})
        except NoTemplateError:
            template = None
        user = json.dumps(
            {
                "intent": intent.model_dump(exclude_none=True),
                "examples": examples,
                "models": dict(models or {}),
            },
            indent=1,
        )
        answer = await self.llm.complete_json(
            system=load_prompt("flow.md"), user=user, schema=LINK_LIST_JSON_SCHEMA, name="link_list"
        )
        try:
            doc = parse_link_list(answer)
        except LinkListError:
            raise
        except ValueError as exc:
            raise LinkListError(f"the LLM's link list is malformed: {exc}") from exc
        notes = apply_intent(doc, intent, catalog)
        require_inputs(doc, intent, catalog)
        return FlowOutcome(doc, template.name if template is not None else None, notes)


# -- composition (issue 11): a plan of operations chained into one graph --------------------------------
# Single operations a bundled template serves as well (size, frames and family from the intent); anything
# else, and every chain, is composed from fragments.
TEMPLATE_OPERATIONS = frozenset(
    {"generate_image", "generate_video", "image_to_video", "video_to_video", "upscale", "restyle"}
)
_FILE_KINDS = ("image", "video", "mask")


def input_files(values: Mapping[str, Any]) -> dict[str, str]:
    """The request's given input files by name -> kind ("image", "video", "mask"): `input_image`,
    `input_video` and `extra_params` kinds of an intent dump or of the request's overrides (the planner finds
    the files the text names by itself)."""
    extra = values.get("extra_params") or {}
    files: dict[str, str] = {}
    for kind in _FILE_KINDS:
        for value in (values.get(f"input_{kind}"), extra.get(kind), extra.get(f"input_{kind}")):
            if isinstance(value, str) and value:
                files.setdefault(value, kind)
    return files


def plan_task(plan: Plan) -> Task:
    """The intent's task for a composed plan: what it starts from (nothing, a picture, a clip) and what it
    ends with (the last step's output), so Reformat neither asks for an input a first step generates nor
    reads a video chain as an image request."""
    if len(plan.steps) == 1 and plan.steps[0].op == "upscale" and not needs_composition(plan):
        return "upscale"  # the planner reads more ways to ask for it ("2x resolution", typos) than Reformat
    types: list[str | None] = []
    sources: set[str] = set()
    for step in plan.steps:
        given: dict[str, str] = {}
        for port in step.inputs:
            for ref in step.refs(port):
                idx = step_ref(ref)
                kind = types[idx] if idx is not None else file_type(ref)
                if idx is None:
                    sources.add(kind or "IMAGE")
                if kind is not None:
                    given.setdefault(port, kind)
        types.append(OPERATIONS[step.op].output_type(given))
    final = next((t for t in reversed(types) if t is not None), "IMAGE")
    if final == "VIDEO":
        if not sources:
            return "text-to-video"
        return "video-to-video" if "VIDEO" in sources else "image-to-video"
    return "image-to-image" if sources else "text-to-image"


def needs_composition(plan: Plan, served: Callable[[str, str], bool] | None = None) -> bool:
    """A chain, or one operation that no template does (edit, inpaint, outpaint, style, control, ...), or
    one on a model family no template does it on (`served(task, family)`: "a wan 2.1 video of a fox" is
    composed from Wan's fragments, not the default video template's HunyuanVideo).

    A lone `render_text` that names a model family and gives no picture keeps the template path: that
    family's text-to-image template renders the text from the prompt ("a flux image of a neon sign that says
    open")."""
    if len(plan.steps) > 1:
        return True
    step = plan.steps[0]
    if step.op == "upscale" and any(file_type(ref) == "VIDEO" for ref in step.refs("image")):
        return True  # the upscale templates take a picture; a clip's frames are composed
    family = step.family
    if family is not None and step.op != "upscale" and served and not served(plan_task(plan), family):
        return True
    if step.op == "render_text" and step.family is not None and not step.inputs:
        return False
    return step.op not in TEMPLATE_OPERATIONS


# A size said for the whole request shapes what is generated, never an upscale's or outpaint's own sizes.
_CANVAS_OPS = frozenset({"generate_image", "generate_video", "image_to_video", "render_text"})


def with_request_values(plan: Plan, intent: Intent, said: Collection[str]) -> Plan:
    """The plan with the values the request set as a whole (the API's `resolution`, `steps`, `seed`;
    "30 steps" in the text) on every step that takes them and did not say its own ("768x512" in a clause)."""
    steps = []
    for step in plan.steps:
        fields = OPERATIONS[step.op].params.model_fields
        extra = {
            name: getattr(intent, name)
            for name in said
            if name in fields
            and getattr(intent, name) is not None
            and step.params.get(name) is None
            and (name not in ("width", "height") or step.op in _CANVAS_OPS)
        }
        steps.append(step.model_copy(update={"params": {**step.params, **extra}}) if extra else step)
    return plan.model_copy(update={"steps": steps})


def compose_flow(
    plan: Plan, catalog: Catalog, files: Mapping[str, str], models: Mapping[str, Sequence[str]] | None
) -> FlowOutcome:
    """The plan's fragments chained into one graph (`agents.compose`), checked against the catalog."""
    plan, fallback = image_prompt_fallback(plan, catalog)
    comp = compose(plan, catalog, files=files, models=models)
    notes = [f"fragment {name}" for name in comp.fragments] + comp.notes + fallback
    notes += [f"needs {folder}/{file}" for folder, names in comp.models.items() for file in names]
    return FlowOutcome(comp.link_list, None, notes)


VARIATION_DENOISE = 0.55  # enough redrawn to differ, little enough to stay the same picture


def image_prompt_fallback(plan: Plan, catalog: Catalog) -> tuple[Plan, list[str]]:
    """Variations ("4 variations of this photo": an image-prompt `style` step with only a reference) on a
    backend that has no image-prompt model at all (unCLIP, Redux, style adapter): an img2img of the picture at
    a moderate denoise instead, one picture, with a note saying so."""
    steps, notes = [], []
    for step in plan.steps:
        ref = step.inputs.get("reference")
        if (
            step.op == "style"
            and isinstance(ref, str)
            and "image" not in step.inputs
            and not FragmentLibrary.bundled().candidates("style", catalog, ports=["reference"])
        ):
            params = {k: step.params[k] for k in ("prompt", "seed", "steps") if k in step.params}
            steps.append(
                Step(op="restyle", params={**params, "denoise": VARIATION_DENOISE}, inputs={"image": ref})
            )
            notes.append(f"no image-prompt model on the backend: a variation of {ref} as img2img")
        else:
            steps.append(step)
    return (plan.model_copy(update={"steps": steps}) if notes else plan), notes
