; OCaml (.ml) definitions, references and imports for axd.
; (`.mli` files use the `ocaml_interface` grammar, which this file does not target.)
;
; Definitions (top level and inside `struct ... end`; local `let ... in` is skipped)
;   let f x = ... / let f = fun x -> ... / let f = function ... -> function
;   let x = ... (no parameters)                                 -> variable
;   type t = ...                                                -> type
;   module M = ... / module M = struct ... end                  -> module
;   module type S = sig ... end                                 -> interface
;   class c = object ... end                                    -> class
;   method m (inside an object)                                 -> method
;   exception E                                                 -> type
; References: applied functions (`f x`, `M.f x`), type constructors in types.
; Imports: `open M` / `open A.B` (module = the path as written).

(compilation_unit
  (value_definition
    (let_binding pattern: (value_name) @name (parameter)) @definition.function))
(structure
  (value_definition
    (let_binding pattern: (value_name) @name (parameter)) @definition.function))

(compilation_unit
  (value_definition
    (let_binding
      . pattern: (value_name) @name
      . body: [(fun_expression) (function_expression)]) @definition.function))
(structure
  (value_definition
    (let_binding
      . pattern: (value_name) @name
      . body: [(fun_expression) (function_expression)]) @definition.function))

((compilation_unit
  (value_definition
    (let_binding . pattern: (value_name) @name . body: (_) @_body) @definition.variable))
  (#not-match? @_body "^(fun|function)\\b"))
((structure
  (value_definition
    (let_binding . pattern: (value_name) @name . body: (_) @_body) @definition.variable))
  (#not-match? @_body "^(fun|function)\\b"))

(type_binding name: (type_constructor) @name) @definition.type
(exception_definition (constructor_declaration (constructor_name) @name)) @definition.type

(module_binding (module_name) @name) @definition.module
(module_type_definition (module_type_name) @name) @definition.interface
(class_binding (class_name) @name) @definition.class
(method_definition (method_name) @name) @definition.method

; ---------------------------------------------------------------- references
(application_expression function: (value_path (value_name) @reference.call))
(type_constructor_path (type_constructor) @reference.reference)

; ---------------------------------------------------------------- imports
(open_module module: (module_path) @import.module) @import
