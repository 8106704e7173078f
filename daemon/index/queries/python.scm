; axd query for Python. Capture convention: see the header of daemon/extract.py.

; Definitions. The docstring is the first statement of the body when it is a
; string; the optional child keeps one pattern per definition.
(class_definition
  name: (identifier) @name
  body: (block . (string)? @docstring)) @definition.class

; A def directly in a class body becomes a method in the extractor.
(function_definition
  name: (identifier) @name
  body: (block . (string)? @docstring)) @definition.function

; Module-level assignments: ALL_CAPS names are constants by convention.
; (This grammar build has no expression_statement node: expressions sit in
; the block directly.)
(module
  (assignment left: (identifier) @name) @definition.constant
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))

(module
  (assignment left: (identifier) @name) @definition.variable
  (#not-match? @name "^_*[A-Z][A-Z0-9_]*$"))

; Class attributes (`x: int = 0` in a dataclass body).
(class_definition
  body: (block (assignment left: (identifier) @name) @definition.field))

; References.
(call function: (identifier) @reference.call)
(call function: (attribute attribute: (identifier) @reference.call))
(decorator (identifier) @reference.reference)
(class_definition
  superclasses: (argument_list (identifier) @reference.reference))
(type (identifier) @reference.reference)

; Imports: one record per module named in the statement.
(import_statement name: (dotted_name) @import.module) @import
(import_statement
  name: (aliased_import name: (dotted_name) @import.module)) @import
(import_from_statement module_name: (dotted_name) @import.module) @import
(import_from_statement module_name: (relative_import) @import.module) @import
(import_from_statement name: (dotted_name (identifier) @reference.import))
(import_from_statement
  name: (aliased_import name: (dotted_name (identifier) @reference.import)))
