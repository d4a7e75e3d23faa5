"""The audit log as an administrator reads it (SPEC E5): filtered by time
range, user, activity and result; exported as CSV (exactly the filtered
rows); drawn as a chart of activity per day, as SVG made on the server (no
script, nothing fetched).

A report never holds a password, a code or an answer: the audit log has none
(``server.audit``).
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from xml.sax.saxutils import escape

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from passback.server.audit import Activity
from passback.server.console.errors import ConsoleError
from passback.server.directory_users import find_user
from passback.server.i18n.translations import N_
from passback.server.store.models import Admin, AuditEvent, DirectoryUser
from passback.server.types import StoreSessions

#: Rows a page shows; the CSV export takes up to ``MAX_EXPORT``.
PAGE_ROWS = 200
MAX_EXPORT = 100_000
#: Reasons the failures chart shows; the rest are summed as one bar. It counts
#: the newest ``REASON_SAMPLE`` failures of the filter (each page view reads them).
TOP_REASONS = 10
REASON_SAMPLE = 10_000
OTHER_REASONS = ""
#: The longest range a report covers.
MAX_DAYS = 366
DEFAULT_DAYS = 30
RESULTS = ("success", "failure")


@dataclasses.dataclass(frozen=True)
class Filter:
    start: dt.date
    end: dt.date  # inclusive
    user: str = ""  # a sAMAccountName or UPN, as typed
    activity: Activity | None = None
    result: str | None = None

    @property
    def query(self) -> dict[str, str]:
        """The filter as the report page's query string takes it."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "user": self.user,
            "activity": self.activity.value if self.activity else "",
            "result": self.result or "",
        }


@dataclasses.dataclass(frozen=True)
class Row:
    at: dt.datetime
    activity: str
    result: str
    actor: str
    user: str  # the user's sAMAccountName, or "" (an administrator's own event)
    admin: str  # the administrator who acted, or ""
    method: str
    facts: Mapping[str, object]  # the event's detail, the administrator's id taken out

    @property
    def detail(self) -> str:
        """The facts on one line, as the page and the CSV show them."""
        return ", ".join(f"{k}={v}" for k, v in sorted(self.facts.items()))


def parse_filter(
    *,
    start: str,
    end: str,
    user: str,
    activity: str,
    result: str,
    today: dt.date,
) -> Filter:
    """The filter from the report form's fields (all optional: the last 30 days).

    Raises:
        ConsoleError: a field that is not valid, with its ``field``.
    """
    try:
        last = dt.date.fromisoformat(end) if end else today
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(DEFAULT_DAYS - 1)
        dt.date.fromordinal(last.toordinal() + 1)  # the range's end must exist
    except (ValueError, OverflowError):
        raise ConsoleError(
            "invalid_date", N_("Enter dates as YYYY-MM-DD."), field="from" if start else "to"
        ) from None
    if first > last:
        raise ConsoleError("invalid_range", N_("The start is after the end."), field="from")
    if (last - first).days >= MAX_DAYS:
        raise ConsoleError(
            "range_too_long",
            N_("A report covers at most %(n)d days."),
            values={"n": MAX_DAYS},
            field="from",
        )
    chosen = None
    if activity:
        try:
            chosen = Activity(activity)
        except ValueError:
            raise ConsoleError(
                "invalid_activity", N_("Choose an activity from the list."), field="activity"
            ) from None
    if result and result not in RESULTS:
        raise ConsoleError("invalid_result", N_("Choose a result from the list."), field="result")
    user = user.strip()
    if len(user) > 256 or not user.isprintable():
        raise ConsoleError("invalid_username", N_("Enter a username."), field="user")
    return Filter(first, last, user, chosen, result or None)


def rows(db: Session, tenant_id: str, chosen: Filter, limit: int = PAGE_ROWS) -> list[Row]:
    """The events that match, newest first, at most ``limit``."""
    return list(_rows(db, tenant_id, chosen, limit))


def _rows(db: Session, tenant_id: str, chosen: Filter, limit: int) -> Iterator[Row]:
    found = db.execute(
        _select(tenant_id, chosen)
        .order_by(AuditEvent.at.desc(), AuditEvent.id)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    admins = {a.id: a.email for a in db.scalars(select(Admin).where(Admin.tenant_id == tenant_id))}
    for event, name in found:
        detail = _detail(event.detail_json)
        admin = admins.get(str(detail.pop("admin", "")), "")
        yield Row(
            at=event.at,
            activity=event.activity,
            result=event.result,
            actor=event.actor,
            user=name or "",
            admin=admin,
            method=event.method or "",
            facts=detail,
        )


def per_day(db: Session, tenant_id: str, chosen: Filter) -> list[tuple[dt.date, int, int]]:
    """(day, successes, failures) of every day of the range, in order."""
    days = {
        chosen.start + dt.timedelta(n): [0, 0] for n in range((chosen.end - chosen.start).days + 1)
    }
    day = func.date(AuditEvent.at)  # counted by the database: a year is many rows
    query = (
        _select(tenant_id, chosen)
        .with_only_columns(day, AuditEvent.result, func.count())
        .group_by(day, AuditEvent.result)
    )
    for when, result, count in db.execute(query):
        counts = days.get(dt.date.fromisoformat(str(when)[:10]))
        if counts is not None:
            counts[0 if result == "success" else 1] += int(count)
    return [(day, ok, bad) for day, (ok, bad) in days.items()]


def per_reason(
    db: Session, tenant_id: str, chosen: Filter, *, most: int = TOP_REASONS
) -> list[tuple[str, int]]:
    """Why the matching events failed, most frequent first: the directory's
    or the portal's outcome (``too_short``, ``wrong_password``, …), the
    refusal's reason, else the activity (and method) that failed. At most
    ``most`` reasons; the rest are summed as ``other``. Reads at most
    ``REASON_SAMPLE`` failures (the newest)."""
    query = (
        _select(tenant_id, chosen)
        .with_only_columns(AuditEvent.activity, AuditEvent.method, AuditEvent.detail_json)
        .where(AuditEvent.result == "failure")
        .order_by(AuditEvent.at.desc())
        .limit(REASON_SAMPLE)
        .execution_options(yield_per=1000)
    )
    counts: collections.Counter[str] = collections.Counter()
    for activity, method, raw in db.execute(query):
        detail = _detail(raw)
        reason = detail.get("outcome") or detail.get("reason")
        counts[str(reason) if reason else ":".join(filter(None, (activity, method)))] += 1
    ranked = counts.most_common()
    shown, rest = ranked[:most], sum(n for _, n in ranked[most:])
    return shown + ([(OTHER_REASONS, rest)] if rest else [])


def reasons_svg(reasons: Sequence[tuple[str, int]], *, title: str, other: str) -> str:
    """Horizontal bars, one per reason with its count, as SVG markup (see
    :func:`chart_svg`); ``other`` names the sum of the reasons not shown."""
    width, row, label = 640, 24, 220
    height = max(len(reasons), 1) * row + 8
    peak = max([n for _, n in reasons] + [1])
    scale = (width - label - 48) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="reasons-title reasons-desc" class="chart">',
        f'<title id="reasons-title">{escape(title)}</title>',
        '<desc id="reasons-desc">'
        + escape(", ".join(f"{other if r == OTHER_REASONS else r}: {n}" for r, n in reasons))
        + "</desc>",
    ]
    for index, (reason, n) in enumerate(reasons):
        y = 4 + index * row
        name = other if reason == OTHER_REASONS else reason
        parts.append(
            f'<text x="{label - 8}" y="{y + 16}" font-size="12" fill="#1f2328" '
            f'text-anchor="end">{escape(name[:32])}</text>'
            f'<rect x="{label}" y="{y + 4}" width="{max(n * scale, 1):.1f}" height="16" '
            f'fill="#e8a09a" stroke="#b3261e"><title>{escape(name)}: {n}</title></rect>'
            f'<text x="{label + n * scale + 6:.1f}" y="{y + 16}" font-size="12" '
            f'fill="#4a5360">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def count(db: Session, tenant_id: str, chosen: Filter) -> int:
    query = _select(tenant_id, chosen).with_only_columns(func.count())
    return int(db.scalar(query) or 0)


def check_export(db: Session, tenant_id: str, chosen: Filter) -> None:
    """Raises ConsoleError ``export_too_large``: more than ``MAX_EXPORT``
    events match. An export is exactly the filtered rows, or none: never a
    silent cut."""
    if count(db, tenant_id, chosen) > MAX_EXPORT:
        raise ConsoleError(
            "export_too_large",
            N_("More than %(n)d events match. Narrow the range or the filters."),
            values={"n": MAX_EXPORT},
        )


CSV_COLUMNS = ("time_utc", "activity", "result", "actor", "user", "admin", "method", "detail")


def csv_lines(sessions: StoreSessions, tenant_id: str, chosen: Filter) -> Iterator[str]:
    """Every matching event as CSV lines, read in batches: an export of a
    year is never whole in memory. The caller checked the count first."""
    with sessions() as db:
        yield to_csv(())
        for row in _rows(db, tenant_id, chosen, MAX_EXPORT):
            yield to_csv((row,), header=False)


def to_csv(found: Iterable[Row], *, header: bool = True) -> str:
    """The rows as CSV (RFC 4180), a header first. A cell that a spreadsheet
    would read as a formula is prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for row in found:
        writer.writerow(
            [
                row.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                *(
                    _cell(v)
                    for v in (
                        row.activity,
                        row.result,
                        row.actor,
                        row.user,
                        row.admin,
                        row.method,
                        row.detail,
                    )
                ),
            ]
        )
    return out.getvalue()


def chart_svg(
    days: Sequence[tuple[dt.date, int, int]], *, title: str, success: str, failure: str
) -> str:
    """Stacked bars per day (successes below, failures above), as SVG markup to
    place in a page: a title and a description for screen readers, no style
    attribute (the page's CSP allows none), colours that hold in grey scale."""
    width, height, pad = 640, 200, 28
    peak = max([ok + bad for _, ok, bad in days] + [1])
    slot = (width - pad) / max(len(days), 1)
    bar = max(slot * 0.7, 1)
    scale = (height - 2 * pad) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(days, success, failure))}</desc>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width}" y2="{height - pad}" stroke="#4a5360"/>',
        f'<text x="0" y="{pad}" font-size="11" fill="#4a5360">{peak}</text>',
    ]
    for index, (day, ok, bad) in enumerate(days):
        x = pad + index * slot
        ok_h, bad_h = ok * scale, bad * scale
        base = height - pad
        if ok:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - ok_h:.1f}" width="{bar:.1f}" '
                f'height="{ok_h:.1f}" fill="#146c2e"><title>{day}: {ok} {escape(success)}'
                "</title></rect>"
            )
        if bad:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" width="{bar:.1f}" '
                f'height="{bad_h:.1f}" fill="#e8a09a" stroke="#b3261e"><title>{day}: {bad} '
                f"{escape(failure)}</title></rect>"
            )
    if days:
        parts.append(
            f'<text x="{pad}" y="{height - 8}" font-size="11" fill="#4a5360">{days[0][0]}</text>'
        )
        parts.append(
            f'<text x="{width}" y="{height - 8}" font-size="11" fill="#4a5360" '
            f'text-anchor="end">{days[-1][0]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _description(days: Sequence[tuple[dt.date, int, int]], success: str, failure: str) -> str:
    ok = sum(d[1] for d in days)
    bad = sum(d[2] for d in days)
    return f"{ok} {success}, {bad} {failure}"


def _select(tenant_id: str, chosen: Filter) -> Select[AuditEvent, str]:
    start = dt.datetime.combine(chosen.start, dt.time(), dt.UTC)
    end = dt.datetime.combine(chosen.end + dt.timedelta(1), dt.time(), dt.UTC)
    query = (
        select(AuditEvent, DirectoryUser.sam_account_name)
        .outerjoin(DirectoryUser, DirectoryUser.id == AuditEvent.user_id)
        .where(AuditEvent.tenant_id == tenant_id, AuditEvent.at >= start, AuditEvent.at < end)
    )
    if chosen.user:  # the user's events: by the indexes on names and on events' users
        named = find_user(tenant_id, chosen.user).with_only_columns(DirectoryUser.id)
        query = query.where(AuditEvent.user_id.in_(named))
    if chosen.activity is not None:
        query = query.where(AuditEvent.activity == chosen.activity.value)
    if chosen.result is not None:
        query = query.where(AuditEvent.result == chosen.result)
    return query


def _detail(raw: str) -> dict[str, object]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cell(value: str) -> str:
    # CSV injection: =, +, -, @, tab and CR start a formula in spreadsheets.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
