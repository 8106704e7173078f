; Erlang definitions, references and imports for axd.
;
; Definitions
;   -module(m).                 -> module (spans only the attribute; functions are not
;                                  nested under it)
;   functions                   -> function, one symbol per function: the grammar gives
;     each clause its own fun_decl, so only a clause whose previous form is not a clause
;     of the same name is captured (different arities of one name written one after the
;     other therefore collapse into one symbol; the definition spans the first clause)
;   -record(r, {...})           -> struct; record fields -> field
;   -define(M, ...) / -define(M(X), ...) -> macro
;   -type t() :: ... / -opaque  -> type
; References: local calls `f(X)`, remote calls `m:f(X)` (callee f, module m as a
;   reference), `fun f/N`.
; Imports: -include("x.hrl"), -include_lib("app/include/x.hrl"), -import(m, [...]).

(module_attribute name: (atom) @name) @definition.module

(source_file . (fun_decl clause: (function_clause name: (atom) @name)) @definition.function)

(source_file
  (fun_decl clause: (function_clause name: (atom) @_prev))
  .
  (fun_decl clause: (function_clause name: (atom) @name)) @definition.function
  (#not-eq? @_prev @name))

(source_file
  [(module_attribute) (behaviour_attribute) (export_attribute) (import_attribute)
   (export_type_attribute) (optional_callbacks_attribute) (compile_options_attribute)
   (file_attribute) (deprecated_attribute) (record_decl) (type_alias) (opaque) (spec)
   (callback) (wild_attribute) (pp_include) (pp_include_lib) (pp_define) (pp_undef)
   (pp_ifdef) (pp_ifndef) (pp_else) (pp_endif) (pp_if) (pp_elif) (comment)]
  .
  (fun_decl clause: (function_clause name: (atom) @name)) @definition.function)

(record_decl name: (atom) @name) @definition.struct
(record_decl fields: (record_field name: (atom) @name) @definition.field)

(pp_define lhs: (macro_lhs name: (_) @name)) @definition.macro

(type_alias name: (type_name name: (atom) @name)) @definition.type
(opaque name: (type_name name: (atom) @name)) @definition.type

; ---------------------------------------------------------------- references
(call expr: (atom) @reference.call)
(call expr: (remote fun: (atom) @reference.call))
(remote module: (remote_module module: (atom) @reference.reference))
(internal_fun fun: (atom) @reference.reference)

; ---------------------------------------------------------------- imports
(pp_include file: (string) @import.module) @import
(pp_include_lib file: (string) @import.module) @import
(import_attribute module: (atom) @import.module) @import
