; Scala (2 and 3) definitions, references and imports for axd.
;
; Definitions
;   class / case class -> class     trait -> trait     object -> module
;   enum -> enum (cases -> constant)
;   def (with or without body) in a class/trait/object body -> method; top-level -> function
;   val / var in a class/trait/object body -> property; top-level -> variable
;   type X = ... -> type
;   Packages are not symbols; local defs/vals inside blocks are not captured.
; References: callees (`f()`, `a.f()`), type names in type positions, extends, `new T`.
; Imports: `import a.b.c`, `import a.b.{C, D => E}` and `import a.b._` give module `a.b.c`
;   / `a.b` / `a.b`.  The grammar has no node for the dotted path, so the patterns
;   capture the first and the last path segment both as @import.module: the module is
;   the source text from the first captured node's start to the last one's end.

(class_definition name: (identifier) @name) @definition.class
(trait_definition name: (identifier) @name) @definition.trait
(object_definition name: (identifier) @name) @definition.module
(enum_definition name: (identifier) @name) @definition.enum
(simple_enum_case name: (identifier) @name) @definition.constant
(full_enum_case name: (identifier) @name) @definition.constant

(template_body (function_definition name: (identifier) @name) @definition.method)
(template_body (function_declaration name: (identifier) @name) @definition.method)
(compilation_unit (function_definition name: (identifier) @name) @definition.function)

(template_body (val_definition pattern: (identifier) @name) @definition.property)
(template_body (var_definition pattern: (identifier) @name) @definition.property)
(template_body (val_declaration name: (identifier) @name) @definition.property)
(compilation_unit (val_definition pattern: (identifier) @name) @definition.variable)
(compilation_unit (var_definition pattern: (identifier) @name) @definition.variable)

(type_definition name: (type_identifier) @name) @definition.type

; ---------------------------------------------------------------- references
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (identifier) @reference.call))
(call_expression
  function: (generic_function function: (identifier) @reference.call))

(_ type: (type_identifier) @reference.reference)
(_ return_type: (type_identifier) @reference.reference)
(type_arguments (type_identifier) @reference.reference)
(instance_expression (type_identifier) @reference.reference)

; ---------------------------------------------------------------- imports
; single segment: `import foo`, `import foo.{A}`, `import foo._`
(import_declaration . (identifier) @import.module .) @import
(import_declaration
  . (identifier) @import.module
  . [(namespace_selectors) (namespace_wildcard)]) @import

; several segments
(import_declaration
  . (identifier) @import.module
  (identifier) @import.module .) @import
(import_declaration
  . (identifier) @import.module
  (identifier) @import.module
  . [(namespace_selectors) (namespace_wildcard)]) @import
