; Kotlin definitions, references and imports for axd.
;
; Definitions
;   class / data class / sealed class / annotation class -> class
;   interface / fun interface                            -> interface
;   enum class -> enum (entries -> constant)
;   object X                                             -> class
;   companion object                                     -> not a symbol (members qualify
;                                                           through the enclosing class)
;   fun                                                  -> function (method inside a class)
;   extension fun `fun T.f()`                            -> method f with @receiver T
;   top-level val/var -> variable, `const val` -> constant
;   val/var in a class body or primary constructor       -> property
;   typealias                                            -> type
; References: callees (`f()`, `a.f()`), type names (user_type).
; Imports: `import a.b.C`, `import a.b.*` (module `a.b`), `import a.b.C as D`.

; The "class" keyword is also present in `enum class`, so enums are excluded by text.
((class_declaration "class" (type_identifier) @name) @definition.class
  (#not-match? @definition.class "^(@[^\n]*\\s+)*([a-z]+\\s+)*enum\\s"))

(class_declaration "interface" (type_identifier) @name) @definition.interface

(class_declaration "enum" (type_identifier) @name) @definition.enum

(enum_entry (simple_identifier) @name) @definition.constant

(object_declaration (type_identifier) @name) @definition.class

(function_declaration
  !receiver
  (simple_identifier) @name) @definition.function

(function_declaration
  receiver: (receiver_type
    [(user_type (type_identifier) @receiver .)
     (user_type (type_identifier) @receiver . (type_arguments) .)
     (nullable_type (user_type (type_identifier) @receiver .))
     (nullable_type (user_type (type_identifier) @receiver . (type_arguments) .))])
  (simple_identifier) @name) @definition.method

((source_file
  (property_declaration
    (variable_declaration (simple_identifier) @name)) @definition.variable)
  (#not-match? @definition.variable "^(@[^\n]*\\s+)*([a-z]+\\s+)*const\\s"))

((source_file
  (property_declaration
    (variable_declaration (simple_identifier) @name)) @definition.constant)
  (#match? @definition.constant "^(@[^\n]*\\s+)*([a-z]+\\s+)*const\\s"))

(class_body
  (property_declaration
    (variable_declaration (simple_identifier) @name)) @definition.property)

(class_parameter
  (binding_pattern_kind)
  (simple_identifier) @name) @definition.property

(type_alias (type_identifier) @name) @definition.type

; ---------------------------------------------------------------- references
(call_expression . (simple_identifier) @reference.call)
(call_expression
  . (navigation_expression
      (navigation_suffix (simple_identifier) @reference.call) .))
(user_type (type_identifier) @reference.reference)

; ---------------------------------------------------------------- imports
(import_header (identifier) @import.module) @import
