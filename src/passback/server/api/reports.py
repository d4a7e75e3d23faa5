"""The audit log (SPEC E5) as the console's Reports page filters it: as JSON,
newest first, and as CSV, exactly the filtered rows (``console/reports.py``).

A filter the console refuses is refused here with the same words (422)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from passback.server.api.deps import ReportsCaller, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import AuditEventOut
from passback.server.console import reports

router = APIRouter(prefix="/api/v1", tags=["reports"])

#: Events one JSON answer holds at most; the CSV export takes them all.
MAX_LIMIT = 1000

From = Annotated[
    str,
    Query(
        alias="from",
        max_length=64,
        description=f"First day, YYYY-MM-DD (UTC); default: {reports.DEFAULT_DAYS - 1} days "
        f"before `to`. A range covers at most {reports.MAX_DAYS} days.",
    ),
]
To = Annotated[str, Query(max_length=64, description="Last day, YYYY-MM-DD; default: today.")]
User = Annotated[
    str, Query(max_length=1024, description="A user's sAMAccountName or UPN (any case).")
]
ActivityParam = Annotated[
    str, Query(max_length=64, description="One activity, e.g. `reset_password`.")
]
Result = Annotated[str, Query(max_length=64, description="`success` or `failure`.")]


def _filter(start: str, end: str, user: str, activity: str, result: str) -> reports.Filter:
    return reports.parse_filter(
        start=start,
        end=end,
        user=user,
        activity=activity,
        result=result,
        today=dt.datetime.now(dt.UTC).date(),
    )


@router.get(
    "/audit-events",
    response_model=list[AuditEventOut],
    summary="The tenant's audit events, filtered, newest first",
    responses=error_responses(401, 403, 422),
)
async def audit_events(
    caller: ReportsCaller,
    services: ServicesDep,
    start: From = "",
    to: To = "",
    user: User = "",
    activity: ActivityParam = "",
    result: Result = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = reports.PAGE_ROWS,
) -> list[AuditEventOut]:
    """The filters are the console's Reports page's; a filter it refuses is
    refused here with the same code and words (422, `detail.field` names the
    parameter)."""
    chosen = _filter(start, to, user, activity, result)

    def read() -> list[reports.Row]:
        with services.sessions() as db:
            return reports.rows(db, caller.tenant_id, chosen, limit)

    return [
        AuditEventOut(
            at=row.at,
            activity=row.activity,
            result=row.result,
            actor=row.actor,
            user=row.user or None,
            admin=row.admin or None,
            method=row.method or None,
            detail=dict(row.facts),
        )
        for row in await asyncio.to_thread(read)
    ]


@router.get(
    "/audit-events.csv",
    response_class=StreamingResponse,
    summary="The tenant's audit events, filtered, as CSV",
    description="The console's export: every event the filters match, newest first, in "
    f"the columns {', '.join(reports.CSV_COLUMNS)}. More than {reports.MAX_EXPORT} events "
    "are refused (`export_too_large`, 422): never a silent cut.",
    responses={
        200: {
            "description": "Exactly the filtered events (RFC 4180), a header first.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 422),
    },
)
async def audit_events_csv(
    caller: ReportsCaller,
    services: ServicesDep,
    start: From = "",
    to: To = "",
    user: User = "",
    activity: ActivityParam = "",
    result: Result = "",
) -> StreamingResponse:
    chosen = _filter(start, to, user, activity, result)

    def check() -> None:
        with services.sessions() as db:
            reports.check_export(db, caller.tenant_id, chosen)

    await asyncio.to_thread(check)
    name = f"passback-audit-events-{chosen.start}-{chosen.end}.csv"
    return StreamingResponse(
        reports.csv_lines(services.sessions, caller.tenant_id, chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
