"""A support code's record (SPEC E2), as ``passback support show`` prints it
and the console's Support page shows it: of the caller's tenant only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from passback.server.api.deps import ServicesDep, SupportCaller
from passback.server.api.problems import error_responses
from passback.server.api.schemas import SupportRecordOut
from passback.server.console import support_codes

router = APIRouter(prefix="/api/v1", tags=["support"])


@router.get(
    "/support/{code}",
    response_model=SupportRecordOut,
    summary="What happened behind a support code",
    responses=error_responses(401, 403, 404, 422),
)
async def support_record(
    code: Annotated[str, Path(max_length=support_codes.MAX_CODE, description="The code, a UUID.")],
    caller: SupportCaller,
    services: ServicesDep,
) -> SupportRecordOut:
    """Another tenant's code is answered as an unknown one
    (`support_code_unknown`, 404); a code that is not a UUID is
    `invalid_support_code` (422)."""
    await services.deferred.settled()  # an outcome this server just answered is in
    found = await support_codes.lookup(services.sessions, caller.tenant_id, code)
    r = found.record
    return SupportRecordOut(
        code=uuid.UUID(r.code),
        time=r.created_at,
        tenant=found.tenant,
        tenant_id=r.tenant_id,
        user=found.user,
        user_id=r.user_id,
        username=r.username,
        method=r.method,
        path=r.path,
        request_id=r.request_id,
        operation=found.operation,
        outcome=found.outcome,
        error=r.error,
        status=r.status,
        message=r.message,
        language=r.language,
        note=r.note,
        agent_id=r.agent_id,
        event_id=r.event_id,
    )
