"""Running an import: read the file, check each row, upsert the good ones a batch at a time.

A bad row is reported (row, column, reason) and skipped; it never stops the good rows. Each
batch is one transaction, so an interrupted import keeps whole batches and a re-run completes
it: rows already stored come back as unchanged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.services import records
from bot.services.importing.columns import ALIASES, Column, Layout, map_headers
from bot.services.importing.kinds import PROBLEMS, REFUSED_FIELDS, SPECS, ImportKind, KindSpec, read_row
from bot.services.importing.reading import ImportFileError, read_table
from bot.services.importing.references import References
from bot.services.importing.scope import Row, StoreScope

log = logging.getLogger(__name__)

BATCH_SIZE = 500
Progress = Callable[[int, int], None]  # (rows done, rows in the file)


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str  # the file's own header
    reason: str


@dataclass
class ImportReport:
    kind: ImportKind
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Rows not imported (a row may have several errors)."""
        return len({error.row for error in self.errors})

    def count(self, outcome: records.Outcome) -> None:
        if outcome is records.Outcome.CREATED:
            self.created += 1
        elif outcome is records.Outcome.UPDATED:
            self.updated += 1
        elif outcome is records.Outcome.UNCHANGED:
            self.unchanged += 1

    def errors_csv(self) -> bytes:
        """The error report as CSV that Excel opens in Chinese (UTF-8 with a BOM)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["行号", "列", "原因"])
        writer.writerows((error.row, error.column, error.reason) for error in self.errors)
        return out.getvalue().encode("utf-8-sig")


async def import_file(
    kind: ImportKind | str,
    source: Path | str | bytes,
    filename: str | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    store_id: int | None = None,
) -> ImportReport:
    """Import customers, vehicles or policies from a .csv or .xlsx file (a path or its bytes).

    `filename` tells the format when `source` is bytes (an upload). With `dry_run` every row is
    checked and counted exactly as it would be imported, and nothing is written. With `store_id`
    only that store's rows are imported, the others reported (scope.py); without, any store's.
    Raises ImportFileError when the file as a whole cannot be read (format, encoding, missing
    column).
    """
    started = time.perf_counter()
    kind = ImportKind(kind)
    if isinstance(source, str):
        source = Path(source)
    name = filename or (source.name if isinstance(source, Path) else "")
    table = await asyncio.to_thread(read_table, source, name)
    spec = SPECS[kind]
    layout = map_headers(table.headers, spec.columns)
    missing = [column for column in ALIASES if column in spec.required and column not in layout.positions]
    if missing:
        raise ImportFileError(f"缺少必需的列：{'、'.join(ALIASES[column][0] for column in missing)}")
    report = ImportReport(kind, dry_run, rows=len(table.rows), ignored_columns=layout.ignored)
    scope = StoreScope(store_id) if store_id is not None else None
    run = _Run(report, layout, spec, spec.new_builder(), await References.load(store_id), scope)
    if progress is not None:
        progress(0, report.rows)
    for start in range(0, report.rows, batch_size):
        accepted = await run.accept(table.rows[start : start + batch_size])
        results = await records.save_batch(spec.upsert, [item for _, item in accepted], dry_run=dry_run)
        run.tally(accepted, results)
        if progress is not None:
            progress(min(start + batch_size, report.rows), report.rows)
    report.errors.sort(key=lambda error: error.row)  # refusals come back after the cell errors
    report.seconds = time.perf_counter() - started
    log.info(
        "import finished",
        extra={
            "kind": kind.value,
            "dry_run": dry_run,
            "rows": report.rows,
            "rows_created": report.created,  # not "created": LogRecord has that attribute
            "rows_updated": report.updated,
            "rows_unchanged": report.unchanged,
            "rows_failed": report.failed,
            "seconds": round(report.seconds, 2),
        },
    )
    return report


@dataclass
class _Run:
    """One import's running state: the report, and the keys seen so far (for duplicates)."""

    report: ImportReport
    layout: Layout
    spec: KindSpec[Any]
    build: Callable[[Any], Any]
    refs: References
    scope: StoreScope | None
    seen: dict[tuple[Column, object], int] = field(default_factory=dict)  # key -> first row

    async def accept(self, chunk: Sequence[tuple[int, list[object]]]) -> list[tuple[int, Any]]:
        """The chunk's rows that read cleanly, are in the scope and are not repeats, as items for
        the upsert; the others are reported."""
        rows = self._read(chunk)
        if self.scope is not None:
            foreign = await self.scope.foreign(rows)
            for number, errors in foreign.items():
                self._report_row(number, errors)
            rows = [(number, values) for number, values in rows if number not in foreign]
        return [(number, self.build(values)) for number, values in rows]

    def _read(self, chunk: Sequence[tuple[int, list[object]]]) -> list[Row]:
        rows = []
        for number, cells in chunk:
            by_column = {
                column: cells[position] if position < len(cells) else None
                for column, position in self.layout.positions.items()
            }
            values, errors = read_row(by_column, self.refs)
            for column in self.spec.required - values.keys() - errors.keys():
                errors[column] = "不能为空"
            if not errors and self.scope is not None:
                errors = self.scope.claim(values, self.spec.columns)
            if not errors:
                errors = self._repeats(number, values)
            if errors:
                self._report_row(number, errors)
                continue
            rows.append((number, values))
        return rows

    def _report_row(self, number: int, errors: dict[Column, str]) -> None:
        self.report.errors.extend(
            RowError(number, self._header(column), reason) for column, reason in errors.items()
        )

    def _repeats(self, number: int, values: dict[Column, Any]) -> dict[Column, str]:
        for column in self.spec.keys:
            if column in values and (first := self.seen.get((column, values[column]))) is not None:
                return {column: f"与第 {first} 行重复，本行未导入"}
        for column in self.spec.keys:
            if column in values:
                self.seen[(column, values[column])] = number
        return {}

    def tally(self, accepted: Sequence[tuple[int, Any]], results: Sequence[records.Result[Any]]) -> None:
        for (number, _), result in zip(accepted, results, strict=True):
            if result.refusal is None:
                self.report.count(result.outcome)
                continue
            column = REFUSED_FIELDS[result.refusal.field]
            self.report.errors.append(
                RowError(number, self._header(column), PROBLEMS[result.refusal.problem])
            )

    def _header(self, column: Column) -> str:
        headers = self.layout.headers
        if column is Column.ADVISOR and column not in headers:
            column = Column.ADVISOR_PHONE
        return headers.get(column, column.value)
