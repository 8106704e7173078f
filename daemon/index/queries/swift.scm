; Swift definitions, references and imports for axd.
;
; Definitions
;   class / actor -> class      struct -> struct      enum -> enum (cases -> constant)
;   protocol -> interface       typealias -> type
;   extension T { ... }  -> @scope named T (its members qualify as T.member)
;   func -> function (method inside a type, extension or protocol)
;   init -> method named `init`
;   protocol requirements: func -> function (-> method), var -> property
;   stored/computed properties in a type or extension -> property
;   top-level `let` -> constant, top-level `var` -> variable
; References: callees (`f()`, `a.f()`), type names (user_type).
; Imports: `import Foundation`, `import struct Darwin.size_t` (module = dotted path).

(class_declaration declaration_kind: "class" name: (type_identifier) @name) @definition.class
(class_declaration declaration_kind: "actor" name: (type_identifier) @name) @definition.class
(class_declaration declaration_kind: "struct" name: (type_identifier) @name) @definition.struct
(class_declaration declaration_kind: "enum" name: (type_identifier) @name) @definition.enum
(protocol_declaration name: (type_identifier) @name) @definition.interface

(class_declaration
  declaration_kind: "extension"
  name: (user_type (type_identifier) @scope.name .)) @scope

(enum_entry name: (simple_identifier) @name @definition.constant)

(typealias_declaration name: (type_identifier) @name) @definition.type

(function_declaration name: (simple_identifier) @name) @definition.function
(protocol_function_declaration name: (simple_identifier) @name) @definition.function
(init_declaration name: "init" @name) @definition.method

(protocol_property_declaration
  name: (pattern bound_identifier: (simple_identifier) @name)) @definition.property

(class_body
  (property_declaration
    name: (pattern bound_identifier: (simple_identifier) @name)) @definition.property)

(source_file
  (property_declaration
    (value_binding_pattern mutability: "let")
    name: (pattern bound_identifier: (simple_identifier) @name)) @definition.constant)

(source_file
  (property_declaration
    (value_binding_pattern mutability: "var")
    name: (pattern bound_identifier: (simple_identifier) @name)) @definition.variable)

; ---------------------------------------------------------------- references
(call_expression . (simple_identifier) @reference.call)
(call_expression
  . (navigation_expression
      suffix: (navigation_suffix suffix: (simple_identifier) @reference.call)))
; Implicit member calls: `.delay(5)`, `.customLong("x")` (the type is inferred).
(call_expression . (prefix_expression "." (simple_identifier) @reference.call))
(user_type (type_identifier) @reference.reference)

; ---------------------------------------------------------------- imports
(import_declaration (identifier) @import.module) @import
