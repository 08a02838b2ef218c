"""Verified workflow templates with typed parameters: the planner's building blocks, and a product."""

from pipeline.templates.library import (
    ParameterSpec,
    Template,
    TemplateError,
    TemplateFormatError,
    TemplateLibrary,
    TemplateNotFound,
    TemplateParameterError,
)

__all__ = [
    "ParameterSpec",
    "Template",
    "TemplateError",
    "TemplateFormatError",
    "TemplateLibrary",
    "TemplateNotFound",
    "TemplateParameterError",
]
