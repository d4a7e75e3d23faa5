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
from passback.server.api.schemas import AuditEventOut, AuditEventsQuery, AuditFilter
from passback.server.console import reports

router = APIRouter(prefix="/api/v1", tags=["reports"])


def _filter(query: AuditFilter) -> reports.Filter:
    return reports.parse_filter(
        start=query.start,
        end=query.to,
        user=query.user,
        activity=query.activity,
        result=query.result,
        today=dt.datetime.now(dt.UTC).date(),
    )


@router.get(
    "/audit-events",
    response_model=list[AuditEventOut],
    summary="The tenant's audit events, filtered, newest first",
    responses=error_responses(401, 403, 422),
)
async def audit_events(
    query: Annotated[AuditEventsQuery, Query()], caller: ReportsCaller, services: ServicesDep
) -> list[AuditEventOut]:
    """The filters are the console's Reports page's; a filter it refuses is
    refused here with the same code and words (422, `detail.field` names the
    parameter)."""
    chosen = _filter(query)

    def read() -> list[reports.Row]:
        with services.sessions() as db:
            return reports.rows(db, caller.tenant_id, chosen, query.limit)

    # A client's next call sees its last write (``Deferred.settled``).
    await services.deferred.settled()
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
    query: Annotated[AuditFilter, Query()], caller: ReportsCaller, services: ServicesDep
) -> StreamingResponse:
    chosen = _filter(query)

    def check() -> None:
        with services.sessions() as db:
            reports.check_export(db, caller.tenant_id, chosen)

    await services.deferred.settled()
    await asyncio.to_thread(check)
    name = f"passback-audit-events-{chosen.start}-{chosen.end}.csv"
    return StreamingResponse(
        reports.csv_lines(services.sessions, caller.tenant_id, chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
