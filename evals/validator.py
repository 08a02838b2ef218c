"""The offline validator: the node catalog's full validation (`node_catalog.validation.validate`), flattened
into `Problem`s for scoring."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evals.scoring import Problem, Validator, problems_from_report


def catalog_validator(catalog: Any) -> Validator:
    """A `Validator` over a `node_catalog.Catalog` (the bundled snapshot when `catalog` is None)."""
    from node_catalog import Catalog
    from node_catalog.validation import validate

    cat = Catalog.bundled() if catalog is None else catalog

    def run(workflow: Mapping[str, Any]) -> list[Problem]:
        report = validate(dict(workflow), cat)
        if report.ok:
            return []
        return problems_from_report(report.error, report.node_errors) or [
            Problem(type="invalid_prompt", message="rejected by the node catalog")
        ]

    return run


def output_classes(catalog: Any) -> list[str]:
    """Every class the catalog marks as an output node (beyond the core ones `evals.graph_facts` knows)."""
    from node_catalog import Catalog

    cat = Catalog.bundled() if catalog is None else catalog
    specs = (cat.get(item) if isinstance(item, str) else item for item in cat)
    return [spec.name for spec in specs if spec is not None and getattr(spec, "output_node", False)]


def files_needed_by(catalog: Any) -> Callable[[Mapping[str, Any]], dict[str, list[str]]]:
    """Folder -> file names a graph loads, from the catalog's knowledge of each loader input's folder."""
    from node_catalog.files import required_files

    def run(workflow: Mapping[str, Any]) -> dict[str, list[str]]:
        return required_files(workflow, catalog)

    return run
