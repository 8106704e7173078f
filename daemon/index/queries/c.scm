; C definitions, references and includes for axd.
;
; Definitions
;   function definitions (also when returning pointers)  -> function
;   prototypes (declarations without a body)             -> not captured
;   struct / union with a body                           -> struct
;   enum with a body                                     -> enum; enumerators -> constant
;   struct/union members                                 -> field
;   typedef                                              -> type
;     `typedef struct { ... } T;` (anonymous tag)        -> struct T (whole typedef)
;     `typedef struct tag { ... } T;`                    -> struct tag, plus type T whose
;        definition node is the name itself (so the struct does not nest under T)
;   #define NAME / #define NAME(args)                    -> macro
;   file-scope variables                                 -> variable
; References: callee identifiers (`f()`, `s.f()`, `p->f()`); type names in type positions.
; Imports: #include "x.h" (string content) and #include <x.h> (angle brackets kept).

; ---------------------------------------------------------------- functions
(function_definition
  declarator: (function_declarator
    declarator: (identifier) @name)) @definition.function

(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: (identifier) @name))) @definition.function

(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (function_declarator
        declarator: (identifier) @name)))) @definition.function

;   functions defined through an upper-case macro, named after its last
;   argument (`TEST_IMPL(name) {`, `PHP_METHOD(Class, name) {`: Class.name),
;   the macro being what a reader writes instead of a signature
(function_definition
  type: (type_identifier) @_macro
  declarator: (parenthesized_declarator (identifier) @name)
  (#match? @_macro "^[A-Z][A-Z0-9_]*$")) @definition.function

; Two or more arguments parse as a call statement missing its `;` followed by
; a block; both nodes make up the definition.
(translation_unit
  (expression_statement
    (call_expression
      function: (identifier) @_macro
      arguments: (argument_list (identifier) @receiver . "," . (identifier) @name . ")")))
    @definition.function
  .
  (compound_statement) @definition.function
  (#match? @_macro "^[A-Z][A-Z0-9_]*$"))

; ---------------------------------------------------------------- macros
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

; ---------------------------------------------------------------- aggregates
(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

(enumerator name: (identifier) @name) @definition.constant

(field_declaration
  declarator: [
    (field_identifier) @name
    (pointer_declarator declarator: (field_identifier) @name)
    (pointer_declarator declarator: (pointer_declarator declarator: (field_identifier) @name))
    (array_declarator declarator: (field_identifier) @name)
  ]) @definition.field

; ---------------------------------------------------------------- typedefs
; anonymous aggregate: the typedef name is the aggregate's name
(type_definition
  type: (struct_specifier !name body: (field_declaration_list))
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (union_specifier !name body: (field_declaration_list))
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (enum_specifier !name body: (enumerator_list))
  declarator: (type_identifier) @name) @definition.enum

; named aggregate with a body: alias T is a type whose node is its name only
(type_definition
  type: [
    (struct_specifier name: (_) body: (_))
    (union_specifier name: (_) body: (_))
    (enum_specifier name: (_) body: (_))
  ]
  declarator: (type_identifier) @name @definition.type)

; plain aliases
(type_definition
  type: [
    (primitive_type)
    (type_identifier)
    (sized_type_specifier)
    (macro_type_specifier)
    (struct_specifier !body)
    (union_specifier !body)
    (enum_specifier !body)
  ]
  declarator: [
    (type_identifier) @name
    (pointer_declarator declarator: (type_identifier) @name)
    (array_declarator declarator: (type_identifier) @name)
    (function_declarator
      declarator: (parenthesized_declarator
        (pointer_declarator declarator: (type_identifier) @name)))
  ]) @definition.type

; ---------------------------------------------------------------- globals
(translation_unit
  (declaration
    declarator: [
      (identifier) @name
      (init_declarator declarator: (identifier) @name)
      (init_declarator declarator: (pointer_declarator declarator: (identifier) @name))
      (init_declarator declarator: (array_declarator declarator: (identifier) @name))
      (pointer_declarator declarator: (identifier) @name)
      (pointer_declarator declarator: (array_declarator declarator: (identifier) @name))
      (array_declarator declarator: (identifier) @name)
    ]) @definition.variable)

; ---------------------------------------------------------------- references
(call_expression function: (identifier) @reference.call)
(call_expression
  function: (field_expression field: (field_identifier) @reference.call))

(_ type: (type_identifier) @reference.reference)
(sizeof_expression type: (type_descriptor type: (type_identifier) @reference.reference))
(cast_expression type: (type_descriptor type: (type_identifier) @reference.reference))

; ---------------------------------------------------------------- includes
(preproc_include
  path: (string_literal (string_content) @import.module)) @import

(preproc_include
  path: (system_lib_string) @import.module) @import
