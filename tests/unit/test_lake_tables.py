"""The lake's registry is the one definition of its tables: the DuckDB DDL and the pyarrow
schema agree with each other, and the dbt sources (and what the staging models select from
them) agree with the registry."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from lake.tables import MASTERDATA_CHANGES, MASTERDATA_TABLES, STREAM_TABLES, TABLES, Layout

DBT = Path(__file__).resolve().parents[2] / "dbt_project"
SOURCE_FILES = sorted((DBT / "models" / "staging").glob("*/_*__sources.yml"))
LAYOUT_OF_LOCATION = {
    "{name}/*/*.parquet": Layout.DAILY,
    "{name}/*.parquet": Layout.FLAT,
    "masterdata/{name}.parquet": Layout.MASTERDATA,
}


def dbt_sources() -> dict[tuple[str, str], Layout]:
    """(source, table) → the layout its external location reads (the table's own, else its
    source's)."""
    out = {}
    for path in SOURCE_FILES:
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                location = table.get("meta", {}).get("external_location", source["meta"]["external_location"])
                (layout,) = [v for k, v in LAYOUT_OF_LOCATION.items() if f"/{k}'" in location]
                out[(source["name"], table["name"])] = layout
    return out


@pytest.mark.parametrize("name", sorted(TABLES))
def test_ddl_and_arrow_schema_describe_the_same_columns(name, tmp_path):
    table = TABLES[name]
    con = duckdb.connect()
    con.execute(table.ddl("from_ddl"))
    path = tmp_path / "t.parquet"
    pq.write_table(table.schema.empty_table(), path)
    from_ddl = con.execute("DESCRIBE from_ddl").fetchall()
    from_arrow = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [(r[0], r[1]) for r in from_ddl] == [(r[0], r[1]) for r in from_arrow]


def test_every_dbt_source_is_a_registry_table_with_its_layout():
    sources = dbt_sources()
    assert sources, "no dbt sources found"
    for (_source, name), layout in sources.items():
        assert name in TABLES, f"dbt reads {name}, which the lake does not define"
        assert TABLES[name].layout is layout, name
    read = {name for _, name in sources}
    assert set(STREAM_TABLES) <= read, "every table the workers land is a dbt source"
    assert {*MASTERDATA_TABLES, MASTERDATA_CHANGES.name} <= read, "the catalogue and its change log too"


def staging_reads() -> list[tuple[Path, str, list[str]]]:
    """(model, source table, the columns its select list names bare) for each staging model
    reading one source table by name."""
    out = []
    for path in sorted((DBT / "models" / "staging").glob("*/stg_*.sql")):
        sql = path.read_text()
        found = re.findall(r"source\('(\w+)',\s*'(\w+)'\)", sql)
        if len(found) != 1:
            continue
        select = sql.split("from {{ source(", 1)[0]
        columns = re.findall(r'^\s*"?([a-z_][a-z0-9_]*)"?\s*(?:,|\bas\b|$)', select, flags=re.M)
        out.append((path, found[0][1], [c for c in columns if c != "select"]))
    return out


def test_staging_models_select_only_columns_the_registry_defines():
    reads = staging_reads()
    assert len(reads) >= 8
    for path, table, columns in reads:
        assert columns, path.name
        unknown = set(columns) - set(TABLES[table].column_names)
        assert not unknown, f"{path.name} selects {sorted(unknown)}, not columns of {table}"
