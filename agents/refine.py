"""Refine: make a link list valid against the catalog and the backend's model files, and turn ComfyUI's
validation and execution errors into fixes. The work lives by kind: `agents.choosers` (which real node
replaces an unknown one: planner or LLM), `agents.structural` (nodes and links), `agents.value_repair`
(widget values, validation errors) and `agents.execution_repair` (execution errors); `Refiner` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.choosers import NodeChooser, PlannerChooser
from agents.execution_repair import fix_execution_error
from agents.intent import Intent
from agents.linklist import LinkList
from agents.structural import StructuralPasses
from agents.value_repair import fix_validation, fix_values
from agents.values import apply_intent, apply_model_files
from node_catalog import Catalog


class Refiner:
    """Repairs a LinkList in place and returns what it did (one line per fix)."""

    def __init__(self, catalog: Catalog, chooser: NodeChooser | None = None) -> None:
        self.catalog = catalog
        self.chooser: NodeChooser = chooser or PlannerChooser()
        self._structure = StructuralPasses(catalog, self.chooser)

    async def refine(
        self,
        doc: LinkList,
        *,
        models: Mapping[str, Sequence[str]] | None = None,
        bad_models: Sequence[str] = (),
        intent: Intent | None = None,
    ) -> list[str]:
        fixes: list[str] = []
        before = set(doc.nodes)
        await self._structure.replace_unknown(doc, fixes)
        self._structure.fix_links(doc, fixes)
        self._structure.fill_missing(doc, fixes)
        self._structure.ensure_output(doc, fixes, video=bool(intent and intent.is_video))
        if intent is not None:
            # nodes Refine replaced or added take the request's values too, not only their defaults
            fresh = set(doc.nodes) - before
            fixes += [
                f"set {note} from the request" for note in apply_intent(doc, intent, self.catalog, only=fresh)
            ]
            fixes += apply_model_files(doc, intent, self.catalog, models)
        fix_values(doc, self.catalog, fixes, models=models, bad_models=bad_models)
        return fixes

    def fix_validation(
        self, doc: LinkList, validation: Mapping[str, Any], *, models: Mapping[str, Sequence[str]] | None
    ) -> list[str]:
        """Edits for the validator's node errors that the generic passes cannot know (model files)."""
        return fix_validation(doc, validation, self.catalog, models=models)

    def fix_execution_error(
        self,
        doc: LinkList,
        error: Mapping[str, Any],
        *,
        models: Mapping[str, Sequence[str]] | None,
        bad_models: list[str],
    ) -> list[str]:
        """Turn one `execution_error` into edits; RepairError when there is nothing sensible to change."""
        return fix_execution_error(doc, self.catalog, error, models=models, bad_models=bad_models)
