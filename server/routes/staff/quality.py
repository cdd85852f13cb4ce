"""The clinic quality report (issue 14 item 3): the page with its charts, every table as CSV, and the patients
behind any figure.

Who may read it: every signed-in staff role (nurse, nurse practitioner, pharmacist, physician, admin) - the report
changes nothing, and each figure's patients are the reader's own clinic's, whom they may already see on the roster.
There is no prescriber on a patient in the data model (only who enrolled them and who changed a plan), so the report
is for the whole clinic. Every view (page, CSV, patient list) is audited; bad dates answer 422 naming the field.
"""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Response, Template
from sqlmodel import Session

from ...context import Ctx
from ...errors import FieldError, FieldErrors, NotFound
from ...models import Clinic
from ...services.audit import record_view, record_views
from ...services.pqi.figures import Table
from ...services.pqi.periods import Period, parse_period
from ...services.pqi.quality_data import WEIGHT_LINES
from ...services.pqi.quality_report import QualityReport, quality_report
from .charts import percent_bars_svg
from .common import SignedInStaff, client_ip, render

# The charts: (table, title, [(column, series name)], reference lines from the table's `reference`).
CHARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "program",
        "Start of therapy (new starts)",
        (("checklist", "checklist before the first dose"), ("teach_back", "teach-back passed")),
    ),
    ("antiemetic", "Anti-nausea medicine before the dose", (("before", "before the dose"),)),
    (
        "doses",
        "Scheduled doses",
        (("taken", "taken"), ("missed", "missed"), ("vomited", "vomited"), ("not_logged", "not logged")),
    ),
    ("monitoring", "Monitoring, weeks 1–8", (("weeks_cbc", "CBC"), ("weeks_cmp", "CMP"), ("weeks_weight", "weight"))),
    (
        "monitoring",
        "Monitoring, months after",
        (("months_cbc", "CBC"), ("months_cmp", "CMP"), ("months_weight", "weight")),
    ),
    ("modifications", "Dose modifications (cumulative)", (("reduced", "reduced"), ("interrupted", "interrupted"))),
    ("weight", "Weight loss lines crossed (cumulative)", tuple((f"crossed_{p}", f"−{p}%") for p in WEIGHT_LINES)),
)


def _clinic(session: Session, staff: Any) -> Clinic:
    clinic = session.get(Clinic, staff.clinic_id)
    if clinic is None:
        raise NotFound("No such clinic.")
    return clinic


# Reports built at once per process (page, CSV and patient lists alike); the rest wait their turn. Each holds its
# session's connection while its reads run side by side on up to READERS more (services/pqi/side_by_side.py): without
# a bound, enough reports at once would hold every pooled connection while their reads waited for one.
REPORTS_AT_ONCE = 2
_reports = threading.BoundedSemaphore(REPORTS_AT_ONCE)


def _report(ctx: Any, staff: Any, raw_from: str, raw_to: str) -> QualityReport:
    from zoneinfo import ZoneInfo

    now = ctx.clock.now()
    with _reports, Session(ctx.engine) as session:
        clinic = _clinic(session, staff)
        period = parse_period(raw_from, raw_to, ZoneInfo(clinic.timezone), now)
        return quality_report(session, clinic, ctx.settings, period, now)


def chart_svgs(report: QualityReport) -> list[str]:
    """The report's charts, by month (the whole period is a table row, not a bar)."""
    charts = []
    months = report.period.months
    for table_key, title, columns in CHARTS:
        table = report.table(table_key)
        series = []
        for column, name in columns:
            values = []
            for month in months:
                figure = table.figure(month.key, column)
                values.append(figure.value if figure is not None else None)
            series.append((name, values))
        references = tuple(
            (table.reference[column], f"trial {name} {table.reference[column]:g}%")
            for column, name in columns
            if column in table.reference
        )
        charts.append(percent_bars_svg([m.label for m in months], series, title=title, references=references))
    return charts


def _period_detail(period: Period) -> str:
    return f"{period.first.isoformat()}..{period.last.isoformat()}"


@get("/quality", sync_to_thread=True)
def quality_page(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    to: FromQuery[str] = "",
) -> Template:
    """The quality report page (`from` is read from the query string itself: it is a Python keyword)."""
    raw_from = request.query_params.get("from", "")
    try:
        report = _report(ctx, staff, raw_from, to)
    except FieldError as exc:
        errors = exc.errors if isinstance(exc, FieldErrors) else {exc.field: exc.message}
        return render(
            request,
            "staff/quality.html",
            nav="quality",
            status_code=422,
            report=None,
            errors=errors,
            form={"from": raw_from, "to": to},
            charts=[],
        )
    record_view(ctx, staff, "quality.view", detail=_period_detail(report.period), ip=client_ip(request))
    return render(
        request,
        "staff/quality.html",
        nav="quality",
        report=report,
        errors={},
        form={"from": report.period.first.isoformat(), "to": report.period.last.isoformat()},
        charts=chart_svgs(report),
    )


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): patient names are free text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet shows rather than runs: a leading single quote before a formula start."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def table_csv(tables: list[Table]) -> str:
    """The tables as CSV: per table its title line, a header, one line per row (values as shown on the page), every
    cell made spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def write(cells: list[str]) -> None:
        writer.writerow([spreadsheet_safe(cell) for cell in cells])

    for index, table in enumerate(tables):
        if index:
            writer.writerow([])
        write([table.title])
        write(["row", *(heading for _, heading in table.columns)])
        for row in table.rows:
            write([row.label, *(row.cells[c].text if c in row.cells else "" for c, _ in table.columns)])
    return out.getvalue()


@get("/quality.csv", sync_to_thread=True)
def quality_csv(
    request: Request, ctx: Ctx, staff: SignedInStaff, to: FromQuery[str] = "", table: FromQuery[str] = ""
) -> Response:
    """Every table of the report (or the one named by `table`) as CSV."""
    raw_from = request.query_params.get("from", "")
    report = _report(ctx, staff, raw_from, to)  # a FieldError answers 422 naming the field (server.app)
    tables = report.tables
    if table:
        tables = [t for t in report.tables if t.key == table]
        if not tables:
            raise FieldError("table", "Choose one of the report's tables.")
    record_view(
        ctx, staff, "quality.csv", detail=f"{_period_detail(report.period)} {table}".strip(), ip=client_ip(request)
    )
    name = f"quality-{table or 'report'}-{report.period.first}-{report.period.last}.csv"
    return Response(
        table_csv(tables),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/quality/patients", sync_to_thread=True)
def quality_patients(
    request: Request,
    ctx: Ctx,
    staff: SignedInStaff,
    to: FromQuery[str] = "",
    table: FromQuery[str] = "",
    row: FromQuery[str] = "",
    column: FromQuery[str] = "",
) -> Template:
    """The patients behind one figure of the report, each with their own share of it."""
    raw_from = request.query_params.get("from", "")
    report = _report(ctx, staff, raw_from, to)
    try:
        found = report.table(table)
    except KeyError:
        raise NotFound("No such figure in the report.") from None
    figure = found.figure(row, column)
    row_label = next((r.label for r in found.rows if r.key == row), "")
    if figure is None:
        raise NotFound("No such figure in the report.")
    ids = sorted(figure.per_patient, key=lambda pid: (report.patients[pid].last_name, report.patients[pid].first_name))
    record_views(
        ctx,
        staff,
        "quality.patients",
        ids,
        ip=client_ip(request),
        detail=f"{_period_detail(report.period)} {table}/{row}/{column}",
    )
    heading = dict(found.columns)[column]
    return render(
        request,
        "staff/quality_patients.html",
        nav="quality",
        report=report,
        table=found,
        heading=heading,
        row_label=row_label,
        figure=figure,
        patients=[(report.patients[pid], figure.patient_text(pid)) for pid in ids],
        back=f"/staff/quality?from={report.period.first}&to={report.period.last}",
    )


ROUTES = [quality_page, quality_csv, quality_patients]
