/// What PostgreSQL's `information_schema.tables` and `information_schema.columns` list, read from
/// `pg_catalog` directly under the same conditions as those views (PostgreSQL 15's definitions): the
/// relation kinds they show, other sessions' temporary schemas left out, and only what the role may use.
/// The views themselves cost about a millisecond to plan for each query, and a run asks several.
///
/// Each is a `FROM` clause with its `WHERE` begun: `c` is the relation (`pg_class`), `n` its schema,
/// and `a` the column; a query adds its own conditions with `AND`.
enum PostgresCatalog {
    /// Tables, partitioned tables, views and foreign tables, as `information_schema.tables` lists them.
    static let tables = """
        pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'f', 'p') AND NOT pg_is_other_temp_schema(n.oid)
        AND (pg_has_role(c.relowner, 'USAGE')
          OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
        """

    /// Their columns, as `information_schema.columns` lists them.
    static let columns = """
        pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'f', 'p') AND NOT pg_is_other_temp_schema(n.oid)
        AND \(columnListed)
        """

    /// A column `a` of a relation `c` that `information_schema.columns` lists, the relation's own
    /// conditions (`tables`') met.
    static let columnListed = """
        a.attnum > 0 AND NOT a.attisdropped
        AND (pg_has_role(c.relowner, 'USAGE') OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))
        """

    /// A relation of `tables` that is a table of the schema the connection works in.
    static let inConnectionSchema =
        "n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND n.oid <> pg_my_temp_schema()"
}
