; Erlang definitions, references and imports for axd.
;
; Definitions
;   -module(m).                 -> module (spans only the attribute; functions are not
;                                  nested under it)
;   functions                   -> function, one symbol per function: the grammar gives
;     each clause its own fun_decl; every clause is captured and the extractor merges
;     consecutive clauses of one name into one symbol spanning them (LanguageSpec
;     merge_clauses; different arities written one after the other collapse too)
;   -record(r, {...})           -> struct; record fields -> field
;   -define(M, ...) / -define(M(X), ...) -> macro
;   -type t() :: ... / -opaque  -> type
; References: local calls `f(X)`, remote calls `m:f(X)` (callee f, module m as a
;   reference), `fun f/N`.
; Imports: -include("x.hrl"), -include_lib("app/include/x.hrl"), -import(m, [...]).

(module_attribute name: (atom) @name) @definition.module

; every clause; the extractor merges consecutive clauses of one name (merge_clauses)
(fun_decl clause: (function_clause name: (atom) @name)) @definition.function
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
