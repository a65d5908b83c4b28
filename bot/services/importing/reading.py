"""Reading an uploaded or exported file into a header and rows, whatever the DMS produced.

Chinese Excel saves CSV as GBK, other tools as UTF-8 with or without a BOM; .xlsx is read in
openpyxl's read-only mode, which streams the sheet instead of loading its whole object model.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from bot.services.importing.cells import is_blank

MAX_ROWS = 200_000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (format, encoding, header); nothing was written."""


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[tuple[int, list[object]]]  # (row number as a spreadsheet shows it, cells)


def read_table(source: Path | bytes, filename: str) -> Table:
    """The first sheet (or the CSV) as a header and its non-blank rows."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        return _table(_xlsx_rows(source))
    if suffix in {".csv", ".txt"}:
        data = source.read_bytes() if isinstance(source, Path) else source
        return _table(enumerate(_csv_rows(_decode(data)), start=1))
    if suffix == ".xls":
        raise ImportFileError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV 后再导入")
    raise ImportFileError(f"不支持的文件类型“{suffix or filename}”，请导入 .xlsx 或 .csv 文件")


def _decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030, the superset of the GBK that Chinese Excel writes."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV")


def _csv_rows(text: str) -> Iterator[list[object]]:
    first_line = text.split("\n", 1)[0]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(first_line, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text, newline=""), dialect)


def _xlsx_rows(source: Path | bytes) -> Iterator[tuple[int, list[object]]]:
    try:
        workbook = load_workbook(
            source if isinstance(source, Path) else io.BytesIO(source), read_only=True, data_only=True
        )
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ImportFileError("无法读取该 Excel 文件，请确认是 .xlsx 格式且未加密") from exc
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        workbook.close()


def _table(rows: Iterable[tuple[int, list[object]]]) -> Table:
    headers: list[str] | None = None
    body: list[tuple[int, list[object]]] = []
    for number, cells in rows:
        if all(is_blank(cell) for cell in cells):
            continue
        if headers is None:
            headers = ["" if cell is None else str(cell).strip() for cell in cells]
            continue
        if len(body) >= MAX_ROWS:
            raise ImportFileError(f"文件超过 {MAX_ROWS} 行，请拆分后分批导入")
        body.append((number, cells))
    if headers is None:
        raise ImportFileError("文件是空的：没有找到表头行")
    return Table(headers, body)
