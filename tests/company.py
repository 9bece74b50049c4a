"""`build_company` lives in `tests.support.company`; this name stays for the modules that still
import it from here."""

from tests.support.company import build_company, write_company

__all__ = ["build_company", "write_company"]
