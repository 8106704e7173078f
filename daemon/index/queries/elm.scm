; Elm definitions, references and imports for axd.
;
; Definitions
;   top-level value/function declarations -> function (one per name: the declaration
;     `f x = ...`; its type annotation is a separate sibling node and is not captured)
;   type T = A | B -> type        type alias T = ... -> type
;   port p : ...   -> function
;   The `module X exposing (..)` header is not a symbol (package-like prefix).
; References: called functions (`f x`, `List.map f xs` -> map), type names in annotations.
; Imports: `import Html exposing (..)`, `import Dict as D` (module = dotted module name).

(file
  (value_declaration
    (function_declaration_left . (lower_case_identifier) @name)) @definition.function)

(type_declaration name: (upper_case_identifier) @name) @definition.type
(type_alias_declaration name: (upper_case_identifier) @name) @definition.type
(port_annotation name: (lower_case_identifier) @name) @definition.function

; ---------------------------------------------------------------- references
(function_call_expr
  target: (value_expr name: (value_qid (lower_case_identifier) @reference.call .)))
(type_ref (upper_case_qid (upper_case_identifier) @reference.reference .))

; ---------------------------------------------------------------- imports
(import_clause moduleName: (upper_case_qid) @import.module) @import
