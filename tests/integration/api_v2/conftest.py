"""Fixtures of the v2 unit tests (the SDK's COMFY_BASE_URL), shared with the live ones."""

from tests.unit.api_v2.conftest import sdk_env

__all__ = ["sdk_env"]
