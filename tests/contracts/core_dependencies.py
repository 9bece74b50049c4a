"""An import-linter contract: a package imports only the standard library, the packages named in
`declared`, and itself (every adapter package and every other installed package is forbidden,
with no list of them to keep up to date)."""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class DeclaredDependenciesContract(Contract):
    type_name = "declared_dependencies"

    source_package = fields.StringField()
    declared = fields.SetField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        source = str(self.source_package)
        allowed = {str(d) for d in self.declared} | set(sys.stdlib_module_names) | {source}  # type: ignore[attr-defined]
        modules = {source} | graph.find_descendants(source)
        illegal = []
        for importer in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.split(".")[0] not in allowed:
                    lines = graph.get_import_details(importer=importer, imported=imported)
                    where = ", ".join(f"line {d['line_number']}" for d in lines) or "?"
                    illegal.append(f"{importer} -> {imported} ({where})")
        return ContractCheck(kept=not illegal, warnings=[], metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error(f"{self.source_package} imports what it does not declare:", bold=True)
        output.new_line()
        for line in check.metadata["illegal"]:
            output.indent_cursor()
            output.print_error(line)
        output.new_line()
