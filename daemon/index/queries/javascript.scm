; axd query for JavaScript (and JSX). Capture convention: see the header of
; daemon/extract.py. `export` wrappers are handled by the registry's
; wrapper_types, so patterns name the declaration itself.

(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (identifier) @name) @definition.class
(method_definition name: (_) @name) @definition.method
(field_definition property: (_) @name) @definition.field

; Top-level `const f = () => ...`, `const f = function () {}` and the `var`
; forms are functions, other top-level bindings variables: both patterns match a
; function binding, and the extractor keeps the earlier pattern on a tie.
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
  (variable_declaration
    (variable_declarator
      name: (identifier) @name
      value: [(arrow_function) (function_expression) (generator_function)])) @definition.function)
(program
  (lexical_declaration
    (variable_declarator name: (identifier) @name)) @definition.variable)
(program
  (variable_declaration
    (variable_declarator name: (identifier) @name)) @definition.variable)
(export_statement
  (lexical_declaration
    (variable_declarator name: (identifier) @name)) @definition.variable)

; Function-valued bindings elsewhere (inside functions, IIFE/UMD wrappers,
; bundler output) are nested functions, as a nested `function f() {}` is.
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

; CommonJS `module.exports.f = function () {}` / `exports.f = () => {}`, and
; any `obj.f = function` or `f = function` assignment.
(assignment_expression
  left: [(identifier) @name (member_expression property: (property_identifier) @name)]
  right: [(arrow_function) (function_expression) (generator_function)]) @definition.function

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

; Named class expressions: `module.exports = class Foo {}`.
(class name: (identifier) @name) @definition.class

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
(class_heritage (identifier) @reference.reference)
(jsx_opening_element name: (identifier) @reference.reference)
(jsx_self_closing_element name: (identifier) @reference.reference)

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
