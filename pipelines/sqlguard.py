"""Which SQL a reader may run: SELECT statements calling no table function that touches files, settings or servers."""

from __future__ import annotations

# Table functions that only read the database's own catalog or compute values; every other one is refused.
CATALOG_AND_VALUES = (
    "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree", "summary",
    "histogram", "histogram_values", "test_all_types", "pg_timezone_names", "icu_calendar_names",
    "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies", "duckdb_functions",
    "duckdb_indexes", "duckdb_keywords", "duckdb_schemas", "duckdb_sequences", "duckdb_settings",
    "duckdb_tables", "duckdb_types", "duckdb_views", "duckdb_extensions", "duckdb_optimizers",
    "duckdb_table_sample", "pragma_table_info", "pragma_show", "pragma_version", "pragma_platform",
    "pragma_database_size", "pragma_storage_info", "pragma_metadata_info", "pragma_collations",
    # a DuckLake's snapshots and the rows a snapshot changed (time travel itself is `AT (VERSION => n)`)
    "ducklake_snapshots", "snapshots", "ducklake_current_snapshot", "current_snapshot",
    "ducklake_table_changes", "table_changes", "ducklake_table_insertions", "table_insertions",
    "ducklake_table_deletions", "table_deletions",
)
# Table functions that read files; `duban sql --allow-files` permits them.
FILE_READERS = (
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "parquet_schema", "parquet_metadata",
    "read_json", "read_json_auto", "read_ndjson", "read_ndjson_auto", "read_json_objects",
    "read_json_objects_auto", "read_ndjson_objects", "read_text", "read_blob", "glob", "sniff_csv",
)


def _list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{name}'" for name in names) + "]"


def allowed_expression(query: str, allowed: tuple[str, ...] = CATALOG_AND_VALUES) -> str:
    """A BOOLEAN SQL expression over the SQL text `query`: true only for SELECT statements whose every
    table function is in `allowed` and that call no quack_* function.

    json_serialize_sql serializes SELECT statements only (anything else is an error), and names every
    function the statement calls, however it is spelled or qualified.
    """
    serialized = f"json_serialize_sql(({query})::VARCHAR)"
    return f"""coalesce(
        NOT (json_extract_string({serialized}, '$.error') = 'true')
        AND NOT EXISTS (
            SELECT 1 FROM unnest(regexp_extract_all({serialized}, '"function_name":"([^"]*)"', 1)) AS called(name)
            WHERE lower(name) LIKE 'quack%'
               OR lower(name) IN (SELECT function_name FROM duckdb_functions()
                                  WHERE function_type IN ('table', 'table_macro')
                                    AND NOT list_contains({_list(allowed)}, function_name))
        ), false)"""
