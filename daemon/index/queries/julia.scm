; Julia definitions, references and imports for axd.
;
; Definitions
;   module M ... end / baremodule          -> module
;   function f(...) ... end                -> function (also `f(x)::T`, `f(x) where T`)
;   function Base.show(...) ... end        -> function `show` with @receiver `Base`
;   short form `f(x) = ...` (top level or directly in a module) -> function
;   macro m(...) ... end                   -> macro
;   struct / mutable struct                -> struct; its fields -> field
;   abstract type / primitive type         -> type
;   const X = ...                          -> constant
;   A docstring (string literal right before a function/struct/macro/module/abstract
;   type/const) is captured as @docstring (its content, without the quotes).
; References: callees (`f(x)`, `M.f(x)`), types after `::` and `<:`.
; Imports: `using A`, `using A.B: x`, `import A: y`, `include("file.jl")`.

(
  (string_literal (content) @docstring)?
  .
  (module_definition name: (identifier) @name) @definition.module)

(
  (string_literal (content) @docstring)?
  .
  (function_definition
    (signature
      [
        (call_expression . (identifier) @name)
        (call_expression . (field_expression value: (_) @receiver . (identifier) @name .))
        (typed_expression . (call_expression . (identifier) @name))
        (where_expression . (call_expression . (identifier) @name))
        (where_expression . (typed_expression . (call_expression . (identifier) @name)))
      ])) @definition.function)

(
  (string_literal (content) @docstring)?
  .
  (macro_definition
    (signature (call_expression . (identifier) @name))) @definition.macro)

(
  (string_literal (content) @docstring)?
  .
  (struct_definition
    (type_head
      [
        (identifier) @name
        (binary_expression . (identifier) @name)
        (parametrized_type_expression . (identifier) @name)
        (binary_expression . (parametrized_type_expression . (identifier) @name))
      ])) @definition.struct)

(
  (string_literal (content) @docstring)?
  .
  [(abstract_definition
     (type_head
       [(identifier) @name
        (binary_expression . (identifier) @name)
        (parametrized_type_expression . (identifier) @name)
        (binary_expression . (parametrized_type_expression . (identifier) @name))]))
   (primitive_definition
     (type_head
       [(identifier) @name
        (binary_expression . (identifier) @name)]))] @definition.type)

(
  (string_literal (content) @docstring)?
  .
  (const_statement (assignment . (identifier) @name)) @definition.constant)

(struct_definition
  (block
    [(identifier) @name
     (typed_expression . (identifier) @name)] @definition.field))

; short-form functions (no docstring capture: an optional leading sibling inside a
; parent pattern does not match reliably)
(source_file
  (assignment
    . [(call_expression . (identifier) @name)
       (where_expression . (call_expression . (identifier) @name))
       (typed_expression . (call_expression . (identifier) @name))]) @definition.function)
(module_definition
  (block
    (assignment
      . [(call_expression . (identifier) @name)
         (where_expression . (call_expression . (identifier) @name))
         (typed_expression . (call_expression . (identifier) @name))]) @definition.function))

; ---------------------------------------------------------------- references
(call_expression . (identifier) @reference.call)
(call_expression . (field_expression (identifier) @reference.call .))
(typed_expression (identifier) @reference.reference .)
(binary_expression (_) (operator) @_op . (identifier) @reference.reference (#eq? @_op "<:"))

; ---------------------------------------------------------------- imports
(using_statement [(identifier) (import_path)] @import.module) @import
(using_statement (selected_import . [(identifier) (import_path)] @import.module)) @import
(import_statement [(identifier) (import_path)] @import.module) @import
(import_statement (selected_import . [(identifier) (import_path)] @import.module)) @import
((call_expression
   . (identifier) @_inc
   (argument_list . (string_literal (content) @import.module))) @import
  (#eq? @_inc "include"))
