"""Importing the DMS's customers, vehicles and insurance policies from CSV or Excel files.

`import_file` is the one entry point: the command line (`python -m bot import`) and the admin
upload page both call it. See importer.py for how a run goes, columns.py for the headers.
"""

from bot.services.importing.importer import ImportReport, RowError, import_file
from bot.services.importing.kinds import ImportKind
from bot.services.importing.reading import ImportFileError

__all__ = ["ImportFileError", "ImportKind", "ImportReport", "RowError", "import_file"]
