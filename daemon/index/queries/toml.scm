; axd query for TOML. Capture convention: see the header of daemon/extract.py.
; Tables (`[package]`, `[[bin]]`) and their pairs are `key` definitions; a pair
; inside a table is qualified by it (`package.name`). A dotted table or key
; name keeps its dots as written (`[tool.ruff]` -> `tool.ruff`).

(table [(bare_key) (quoted_key) (dotted_key)] @name) @definition.key
(table_array_element [(bare_key) (quoted_key) (dotted_key)] @name) @definition.key
(pair [(bare_key) (quoted_key) (dotted_key)] @name) @definition.key
