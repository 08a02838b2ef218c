"""One `Annotated` dependency per scope, and the ownership rule routes apply to what they return.

The `RequireKey` middleware has authenticated the caller already (401 otherwise) and left its `Principal`
in the request state; these dependencies only authorize (403 for a missing scope).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.auth.keys import Principal
from api.errors import ApiError, Forbidden


def get_principal(conn: HTTPConnection) -> Principal:
    """The caller, as the `RequireKey` middleware authenticated it."""
    principal = getattr(conn.state, "principal", None)
    if not isinstance(principal, Principal):
        raise RuntimeError("no principal on the request: the RequireKey middleware is not installed")
    return principal


def require_scope(scope: str) -> Callable[[HTTPConnection], Principal]:
    def dependency(conn: HTTPConnection) -> Principal:
        principal = get_principal(conn)
        if not principal.has(scope):
            raise Forbidden(f"the API key {principal.name!r} lacks the {scope!r} scope this route needs")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


#: Documented on every route (`create_app` includes each router with them).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one (once any key exists)"},
    403: {"description": "The key lacks the scope this route needs"},
}

PrincipalDep = Annotated[Principal, Depends(get_principal)]
ReadAccess = Annotated[Principal, Depends(require_scope("read"))]
SubmitAccess = Annotated[Principal, Depends(require_scope("submit"))]
AdminAccess = Annotated[Principal, Depends(require_scope("admin"))]


def visible(principal: Principal, owner: str | None) -> bool:
    """Admins see everything; any other key only what it created."""
    return principal.is_admin or (owner is not None and owner == principal.name)


def check_visible(principal: Principal, owner: str | None, not_found: ApiError) -> None:
    """Raise `not_found` (a 404, never a 403: ids must not be probeable) for someone else's thing."""
    if not visible(principal, owner):
        raise not_found
