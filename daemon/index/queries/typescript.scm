; axd query for TypeScript, also used for TSX (the registry points tsx here).
; Capture convention: see the header of daemon/extract.py. `export` wrappers
; are handled by the registry's wrapper_types, so patterns name the
; declaration itself.

(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(function_signature name: (identifier) @name) @definition.function
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(type_alias_declaration name: (type_identifier) @name) @definition.type
(internal_module name: (_) @name) @definition.namespace
(module name: (_) @name) @definition.module

(method_definition name: (_) @name) @definition.method
(method_signature name: (_) @name) @definition.method
(abstract_method_signature name: (_) @name) @definition.method
(public_field_definition name: (_) @name) @definition.field
(property_signature name: (_) @name) @definition.property
(enum_body (property_identifier) @name @definition.constant)
(enum_body (enum_assignment name: (_) @name) @definition.constant)

; Top-level `const f = () => ...` and `const f = function () {}` are
; functions, other top-level bindings variables: both patterns match a
; function binding, and the extractor keeps the earlier pattern on a tie. The
; declaration (not the declarator) is the definition, so its leading comment
; and `export` attach.
(program
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name
      value: [(arrow_function) (function_expression)])) @definition.function)
(export_statement
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name
      value: [(arrow_function) (function_expression)])) @definition.function)
(program
  (lexical_declaration
    (variable_declarator name: (identifier) @name)) @definition.variable)
(export_statement
  (lexical_declaration
    (variable_declarator name: (identifier) @name)) @definition.variable)

; Object-literal members holding functions (`{ run: function () {} }`,
; `{ render: () => h() }`) are methods, as the shorthand `{ run() {} }` is.
(pair
  key: [(property_identifier) (string) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.method

; Named function expressions passed as arguments or returned
; (`Deno.test(function name() {})`, `return function name() {}`): the name
; is what stack traces and readers use.
(arguments
  [(function_expression name: (identifier) @name)
   (generator_function name: (identifier) @name)] @definition.function)
(return_statement
  [(function_expression name: (identifier) @name)
   (generator_function name: (identifier) @name)] @definition.function)
(parenthesized_expression
  [(function_expression name: (identifier) @name)
   (generator_function name: (identifier) @name)] @definition.function)

; Nested `const f = () => ...` inside functions, as a nested `function f`.
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

; ES5 classes: `Foo.prototype.bar = function () {}` is method `Foo.bar`.
(assignment_expression
  left: (member_expression
    object: (member_expression
      object: (identifier) @receiver
      property: (property_identifier) @_prototype)
    property: (property_identifier) @name)
  right: [(arrow_function) (function_expression) (generator_function)]
  (#eq? @_prototype "prototype")) @definition.method

; `obj.f = function () {}` and `f = () => {}` assignments.
(assignment_expression
  left: [(identifier) @name (member_expression property: (property_identifier) @name)]
  right: [(arrow_function) (function_expression) (generator_function)]) @definition.function

; Named class expressions: `export default class Foo {}` is a declaration,
; `const X = class Foo {}` an expression.
(class name: (type_identifier) @name) @definition.class

; `export default function () {}` / `export default class {}` without a
; name: the module's default export, named `default` as importers see it.
(export_statement
  "default" @name
  value: [(function_expression !name) (arrow_function)] @definition.function)
(export_statement
  "default" @name
  value: (class !name) @definition.class)

; References.
(call_expression function: (identifier) @reference.call)
(call_expression
  function: (member_expression property: (property_identifier) @reference.call))
(new_expression constructor: (identifier) @reference.call)
(type_annotation (type_identifier) @reference.reference)
(extends_clause value: (identifier) @reference.reference)
(implements_clause (type_identifier) @reference.reference)
(extends_type_clause type: (type_identifier) @reference.reference)

; Imports: the module string without its quotes.
(import_statement source: (string (string_fragment) @import.module)) @import
(export_statement source: (string (string_fragment) @import.module)) @import
(import_specifier name: (identifier) @reference.import)
(call_expression
  function: (import)
  arguments: (arguments . (string (string_fragment) @import.module))) @import
(call_expression
  function: (identifier) @_require
  arguments: (arguments . (string (string_fragment) @import.module))
  (#eq? @_require "require")) @import
