; PHP definitions, references and imports for axd.
;
; Definitions
;   class -> class   interface -> interface   trait -> trait   enum -> enum
;   enum case / const (top-level or class constant) -> constant
;   function -> function      method -> method
;   class property `$x`     -> property (name without the `$`)
;   Namespaces are not symbols (they are package-like; no package prefix in names).
; References: called functions (`f()`, `\A\f()`), methods (`$o->m()`, `$o?->m()`,
;   `A::m()`), classes in `new`, extends/implements, trait `use`, parameter/return types.
; Imports
;   `use A\B\C;` / `use A\B as C;` / `use function A\f;`   -> module `A\B\C` (as written),
;        the last segment also as @reference.import
;   `use A\{B, C};`                                       -> module `A` (the group prefix),
;        the member names as @reference.import
;   require / require_once / include / include_once 'x.php' -> module `x.php`; with
;        `__DIR__ . '/x.php'` the string literal part.

(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum
(enum_case name: (name) @name) @definition.constant

(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.method

(const_declaration (const_element (name) @name) @definition.constant)

(property_declaration
  (property_element
    name: (variable_name (name) @name))) @definition.property

; ---------------------------------------------------------------- references
(function_call_expression function: (name) @reference.call)
(function_call_expression function: (qualified_name (name) @reference.call .))
(member_call_expression name: (name) @reference.call)
(nullsafe_member_call_expression name: (name) @reference.call)
(scoped_call_expression name: (name) @reference.call)
(scoped_call_expression scope: (name) @reference.reference)

(object_creation_expression (name) @reference.reference)
(object_creation_expression (qualified_name (name) @reference.reference .))
(base_clause (name) @reference.reference)
(base_clause (qualified_name (name) @reference.reference .))
(class_interface_clause (name) @reference.reference)
(class_interface_clause (qualified_name (name) @reference.reference .))
(use_declaration (name) @reference.reference)
(named_type (name) @reference.reference)
(named_type (qualified_name (name) @reference.reference .))

; ---------------------------------------------------------------- imports
(namespace_use_declaration
  (namespace_use_clause
    (qualified_name (name) @reference.import .) @import.module)) @import

(namespace_use_declaration
  (namespace_use_clause
    . (name) @import.module @reference.import)) @import

(namespace_use_declaration
  (namespace_name) @import.module
  body: (namespace_use_group)) @import

(namespace_use_group
  (namespace_use_clause . (name) @reference.import))

(require_expression
  [(string (string_content) @import.module)
   (encapsed_string (string_content) @import.module)
   (binary_expression right: (string (string_content) @import.module))
   (binary_expression right: (encapsed_string (string_content) @import.module))]) @import

(require_once_expression
  [(string (string_content) @import.module)
   (encapsed_string (string_content) @import.module)
   (binary_expression right: (string (string_content) @import.module))
   (binary_expression right: (encapsed_string (string_content) @import.module))]) @import

(include_expression
  [(string (string_content) @import.module)
   (encapsed_string (string_content) @import.module)
   (binary_expression right: (string (string_content) @import.module))
   (binary_expression right: (encapsed_string (string_content) @import.module))]) @import

(include_once_expression
  [(string (string_content) @import.module)
   (encapsed_string (string_content) @import.module)
   (binary_expression right: (string (string_content) @import.module))
   (binary_expression right: (encapsed_string (string_content) @import.module))]) @import
