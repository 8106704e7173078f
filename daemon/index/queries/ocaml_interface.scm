; OCaml interface (.mli) definitions, references and imports for axd.
; (`.ml` files use the `ocaml` grammar and ocaml.scm.)
;
; Definitions (nested signatures qualify their members: `module M : sig val h ... end`
; gives `M.h`)
;   val f : a -> b                     -> function (the type is an arrow)
;   val x : t                          -> variable (any other type)
;   external f : a -> b = "c_name"     -> function
;   type t = ... / type t              -> type
;   exception E                        -> type
;   module M : sig ... end / module M : S -> module
;   module type S = sig ... end        -> interface
;   class c : object ... end           -> class;  method m : t (in it) -> method
; References: type constructors used in types.
; Imports: `open M` / `open A.B` (module = the path as written).

; An arrow type makes a function; the plain `val` pattern below matches the same name
; node with the same range, and the pattern written first wins.
(value_specification (value_name) @name type: (function_type)) @definition.function
(value_specification (value_name) @name) @definition.variable
(external (value_name) @name) @definition.function

(type_binding name: (type_constructor) @name) @definition.type
(exception_definition (constructor_declaration (constructor_name) @name)) @definition.type

(module_binding (module_name) @name) @definition.module
(module_type_definition (module_type_name) @name) @definition.interface
(class_binding (class_name) @name) @definition.class
(class_type_binding (class_type_name) @name) @definition.class
(method_specification (method_name) @name) @definition.method

; ---------------------------------------------------------------- references
(type_constructor_path (type_constructor) @reference.reference)

; ---------------------------------------------------------------- imports
(open_module module: (module_path) @import.module) @import
