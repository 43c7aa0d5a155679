"""Dependencies: the store, and the caller's role checked against what an endpoint allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.security import AUDITORS, CYPHER, INGESTERS, READERS, Principal, Role
from api.state import ApiState, lineage_state
from lineage.stores import GraphStore
from lineage.timefmt import utc_now

bearer = HTTPBearer(auto_error=False, description="A token the API's configuration maps to a role")


# The dependencies are coroutines although they never wait: FastAPI runs a plain function
# dependency in its thread pool, a hop per dependency and request (each ~0.5 ms on 2 busy cores).
def allow(roles: frozenset[Role]) -> Callable[..., Awaitable[Principal]]:
    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(401, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        principal = lineage_state(request).tokens.principal(credentials.credentials)
        if principal is None:
            raise HTTPException(401, "the token is not known",
                                headers={"WWW-Authenticate": "Bearer"})
        if principal.expired(utc_now()):
            raise HTTPException(401, f"the token {principal.name!r} expired at "
                                f"{principal.expires}", headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = principal
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role.value} may not call this endpoint "
                                f"(allowed: {', '.join(sorted(r.value for r in roles))})")
        return principal
    return check


async def state(request: Request) -> ApiState:
    return lineage_state(request)


async def store(request: Request) -> GraphStore:
    return lineage_state(request).store


StateDep = Annotated[ApiState, Depends(state)]
StoreDep = Annotated[GraphStore, Depends(store)]
Reader = Annotated[Principal, Depends(allow(READERS))]
Ingester = Annotated[Principal, Depends(allow(INGESTERS))]
Architect = Annotated[Principal, Depends(allow(CYPHER))]
Auditor = Annotated[Principal, Depends(allow(AUDITORS))]
