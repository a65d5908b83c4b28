"""`python -m bot import KIND FILE [--dry-run] [--errors-csv PATH]`, with a progress bar.

Exit status: 0 when every row was imported, 1 when some rows were refused (see the report),
2 when the file could not be imported at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.importing import ImportReport

MAX_ERRORS_SHOWN = 20


def add_import_command(commands: Any) -> None:
    """Register the `import` subcommand on the CLI's subparsers (an argparse private type)."""
    from bot.services.importing.kinds import ImportKind

    parser = commands.add_parser(
        "import",
        help="import customers, vehicles or policies from a .csv or .xlsx file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=[kind.value for kind in ImportKind])
    parser.add_argument("file", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="check and count every row, write nothing")
    parser.add_argument("--errors-csv", type=Path, default=None, help="write the row-level error report here")
    parser.set_defaults(run=_run)


def _run(settings: Settings, args: argparse.Namespace) -> None:
    from bot.services.importing import ImportFileError

    try:
        report = asyncio.run(_import(settings, args))
    except (ImportFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    mode = " (dry run: nothing written)" if report.dry_run else ""
    print(
        f"{report.rows} rows in {report.seconds:.1f}s{mode}: {report.created} created, "
        f"{report.updated} updated, {report.unchanged} unchanged, {report.failed} with errors"
    )
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}")
    for error in report.errors[:MAX_ERRORS_SHOWN]:
        print(f"  row {error.row}, {error.column}: {error.reason}")
    if len(report.errors) > MAX_ERRORS_SHOWN:
        print(f"  ... and {len(report.errors) - MAX_ERRORS_SHOWN} more")
    if args.errors_csv is not None:
        args.errors_csv.write_bytes(report.errors_csv())
        print(f"error report written to {args.errors_csv}")
    sys.exit(1 if report.failed else 0)


async def _import(settings: Settings, args: argparse.Namespace) -> ImportReport:
    from tqdm import tqdm

    from bot.db import database
    from bot.services.importing import import_file

    if not args.file.is_file():
        raise FileNotFoundError(f"no such file: {args.file}")
    with tqdm(unit=" rows", desc=f"importing {args.kind}", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        async with database(settings.database_url):
            return await import_file(args.kind, args.file, dry_run=args.dry_run, progress=progress)
