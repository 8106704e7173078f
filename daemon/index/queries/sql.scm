; SQL definitions and references for axd (tree-sitter-sql grammar, generic dialect).
;
; Kinds chosen for SQL objects:
;   CREATE TABLE t (...)        -> class (its columns -> field)
;   CREATE VIEW v / MATERIALIZED VIEW -> class
;   CREATE FUNCTION f           -> function
;   CREATE INDEX i ON t         -> key   (no better kind exists in the vocabulary)
;   CREATE TYPE t               -> type
;   CREATE TRIGGER tr           -> function
;   CREATE SCHEMA s             -> namespace (spans the statement only; nothing nests)
;   Names are the unqualified object name (`schema.table` -> `table`).
; References: tables/views read in FROM/JOIN (`relation`), functions invoked (`count(*)`).
; SQL has no imports.

(create_table (object_reference name: (identifier) @name)) @definition.class
(create_table
  (column_definitions
    (column_definition name: (identifier) @name) @definition.field))
(create_view (object_reference name: (identifier) @name)) @definition.class
(create_materialized_view (object_reference name: (identifier) @name)) @definition.class
(create_function (object_reference name: (identifier) @name)) @definition.function
(create_index column: (identifier) @name) @definition.key
(create_type (object_reference name: (identifier) @name)) @definition.type
(create_trigger (object_reference name: (identifier) @name)) @definition.function
(create_schema (identifier) @name) @definition.namespace

; ---------------------------------------------------------------- references
(relation (object_reference name: (identifier) @reference.reference))
(invocation (object_reference name: (identifier) @reference.call))
