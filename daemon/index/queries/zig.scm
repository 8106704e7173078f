; Zig definitions, references and imports for axd.
; (tree-sitter-language-pack's `zig` grammar uses PEG-style node names: Decl, VarDecl,
; FnProto, ContainerDecl, ...)
;
; Definitions
;   fn f(...)                                -> function (method inside a struct/union)
;   const X = struct { ... } / opaque { }   -> struct
;   const X = union { ... } / union(enum)    -> struct
;   const X = enum { ... }                   -> enum
;   other container-level `const X = ...`    -> constant; `var x = ...` -> variable
;     (`const std = @import("std")` is an import, not a symbol)
;   struct/union fields `name: T`            -> field
; References: callees (`f()`, `a.b.f()`).
; Imports: `@import("std")` anywhere (module = the string; quotes stripped by the extractor).

(Decl (FnProto function: (IDENTIFIER) @name)) @definition.function

((VarDecl
   variable_type_function: (IDENTIFIER) @name
   (ErrorUnionExpr (SuffixExpr (ContainerDecl (ContainerDeclType) @_kind)))) @definition.struct
  (#match? @_kind "^(struct|opaque|union)"))

((VarDecl
   variable_type_function: (IDENTIFIER) @name
   (ErrorUnionExpr (SuffixExpr (ContainerDecl (ContainerDeclType) @_kind)))) @definition.enum
  (#match? @_kind "^enum"))

([(source_file (Decl (VarDecl "const" variable_type_function: (IDENTIFIER) @name (ErrorUnionExpr) @_value .) @definition.constant))
  (ContainerDecl (Decl (VarDecl "const" variable_type_function: (IDENTIFIER) @name (ErrorUnionExpr) @_value .) @definition.constant))]
  (#not-match? @_value "^((packed|extern)\\s+)?(struct|enum|union|opaque)\\b|^@import\\b"))

([(source_file (Decl (VarDecl "var" variable_type_function: (IDENTIFIER) @name) @definition.variable))
  (ContainerDecl (Decl (VarDecl "var" variable_type_function: (IDENTIFIER) @name) @definition.variable))])

(ContainerField field_member: (IDENTIFIER) @name) @definition.field

; ---------------------------------------------------------------- references
(FieldOrFnCall function_call: (IDENTIFIER) @reference.call)
(SuffixExpr variable_type_function: (IDENTIFIER) @reference.call . (FnCallArguments))

; ---------------------------------------------------------------- imports
((SuffixExpr
   (BUILTINIDENTIFIER) @_builtin
   .
   (FnCallArguments (ErrorUnionExpr (SuffixExpr (STRINGLITERALSINGLE) @import.module)))) @import
  (#eq? @_builtin "@import"))
