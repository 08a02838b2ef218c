"""Access: API keys (hashed in the job database, or bootstrap admin keys from `API_KEYS`), scopes, who owns
what, and secrets kept out of logs and answers.

Routes take one `Annotated` dependency per scope (`ReadAccess`, `SubmitAccess`, `AdminAccess`) or the bare
`PrincipalDep`; the `RequireKey` middleware has already turned the request's key into a `Principal` (401
without a valid one once any key exists). With no key anywhere the gateway runs open: every caller is the
admin `OPEN` principal and nothing is owned.
"""

from api.auth.deps import (
    AdminAccess,
    PrincipalDep,
    ReadAccess,
    SubmitAccess,
    check_visible,
    get_principal,
    require_scope,
    visible,
)
from api.auth.keys import OPEN, SCOPES, KeyRing, Principal, generate_key, hash_key, parse_env_keys

__all__ = [
    "OPEN",
    "SCOPES",
    "AdminAccess",
    "KeyRing",
    "Principal",
    "PrincipalDep",
    "ReadAccess",
    "SubmitAccess",
    "check_visible",
    "generate_key",
    "get_principal",
    "hash_key",
    "parse_env_keys",
    "require_scope",
    "visible",
]
