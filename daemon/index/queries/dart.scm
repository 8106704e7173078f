; Dart definitions, references and imports for axd.
;
; NOTE for the extractor: Dart's grammar puts a function's signature and its body side by
; side (no node spans both), so those patterns capture @definition.* twice (signature and
; body): the definition's range is from the first captured node's start to the last one's
; end.
;
; Definitions
;   class -> class    mixin -> trait    enum -> enum (values -> constant)
;   extension X on T { } -> @scope named T (its members qualify as T.member)
;   top-level function -> function      method in a class/mixin/extension -> method
;   abstract method declarations -> method
;   constructors `C(...)` / `C.named(...)` -> method named `C` / `named`
;   getters / setters -> property
;   fields -> field      top-level final/const/var -> variable
;   typedef -> type
; References: callees (`f()`, `a.f()`, `C.named()`), type names (type_identifier).
; Imports: import / export / part 'uri' (module = the uri string; quotes stripped by the
;   extractor).

(class_definition name: (identifier) @name) @definition.class
(mixin_declaration (identifier) @name) @definition.trait
(enum_declaration name: (identifier) @name) @definition.enum
(enum_constant name: (identifier) @name) @definition.constant

(extension_declaration class: (type_identifier) @scope.name) @scope

(type_alias . (type_identifier) @name) @definition.type

; top-level functions: signature + body
(program
  (function_signature name: (identifier) @name) @definition.function
  .
  (function_body) @definition.function)

; methods, getters, setters with a body
((method_signature
   (function_signature name: (identifier) @name)) @definition.method
  .
  (function_body) @definition.method)

((method_signature
   [(getter_signature name: (identifier) @name)
    (setter_signature name: (identifier) @name)]) @definition.property
  .
  (function_body) @definition.property)

; abstract members (no body)
(declaration (function_signature name: (identifier) @name)) @definition.method
(declaration
  [(getter_signature name: (identifier) @name)
   (setter_signature name: (identifier) @name)]) @definition.property

; constructors (`Invoice(...)`, `Invoice.empty(...)`)
(declaration
  (constructor_signature name: (identifier) @name . parameters: (_))) @definition.method
((method_signature
   (constructor_signature name: (identifier) @name . parameters: (_))) @definition.method
  .
  (function_body) @definition.method)
(declaration
  (factory_constructor_signature (identifier) @name . (formal_parameter_list))) @definition.method
((method_signature
   (factory_constructor_signature (identifier) @name . (formal_parameter_list))) @definition.method
  .
  (function_body) @definition.method)

; fields and top-level variables
(declaration
  (initialized_identifier_list
    (initialized_identifier . (identifier) @name))) @definition.field
(declaration
  (static_final_declaration_list
    (static_final_declaration . (identifier) @name))) @definition.field
(program
  (static_final_declaration_list
    (static_final_declaration . (identifier) @name) @definition.variable))
(program
  (initialized_identifier_list
    (initialized_identifier . (identifier) @name) @definition.variable))

; ---------------------------------------------------------------- references
((identifier) @reference.call . (selector (argument_part)))
((selector (unconditional_assignable_selector (identifier) @reference.call))
  . (selector (argument_part)))
(type_identifier) @reference.reference

; ---------------------------------------------------------------- imports
(import_specification (configurable_uri (uri (string_literal) @import.module))) @import
(library_export (configurable_uri (uri (string_literal) @import.module))) @import
(part_directive (uri (string_literal) @import.module)) @import
