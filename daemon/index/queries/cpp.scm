; C++ definitions, references and includes for axd.
;
; Definitions
;   namespace NAME { }                      -> namespace
;   class / struct / union with a body      -> class / struct / struct
;   enum / enum class with a body           -> enum; enumerators -> constant
;   function definitions                    -> function (the extractor turns the ones
;                                              nested in a class/struct into method)
;   out-of-line `R Foo::bar(...) { }`       -> method `bar` with @receiver `Foo`
;     (also `Foo<T>::bar`, `ns::Foo::bar` -> receiver is the last qualifier,
;      constructors, destructors `~Foo`, operators; conversion operators
;      `operator bool()` are not captured: their name is not a single token)
;   template specializations `struct S<int> { }` -> struct/class named S
;   data members                            -> field
;   typedef / using X = ...                 -> type
;   #define                                 -> macro
;   namespace-scope variables               -> variable
;   Declarations without a body (prototypes, in-class method declarations,
;   forward class declarations) are not captured: the definition carries the symbol.
; References: callees (plain, member, qualified, template), type names in type positions.
; Imports: #include "x.h" (string content) and #include <x> (angle brackets kept).

; ---------------------------------------------------------------- namespaces / types
(namespace_definition
  name: (namespace_identifier) @name) @definition.namespace

(class_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.class

(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

; `class LEVELDB_EXPORT Slice {...}`: an upper-case export macro before the
; name makes the grammar read a function named Slice returning `class
; LEVELDB_EXPORT` (with a base clause, the name lands in an ERROR node).
; The body's members still nest by range.
(function_definition
  type: (class_specifier name: (type_identifier) @_macro)
  .
  declarator: (identifier) @name
  body: (compound_statement)
  (#match? @_macro "^[A-Z][A-Z0-9_]*$")) @definition.class
(function_definition
  type: (class_specifier name: (type_identifier) @_macro)
  (ERROR . (identifier) @name)
  body: (compound_statement)
  (#match? @_macro "^[A-Z][A-Z0-9_]*$")) @definition.class
(function_definition
  type: (struct_specifier name: (type_identifier) @_macro)
  .
  declarator: (identifier) @name
  body: (compound_statement)
  (#match? @_macro "^[A-Z][A-Z0-9_]*$")) @definition.struct
(function_definition
  type: (struct_specifier name: (type_identifier) @_macro)
  (ERROR . (identifier) @name)
  body: (compound_statement)
  (#match? @_macro "^[A-Z][A-Z0-9_]*$")) @definition.struct

; template specializations: template <> struct S<int> { ... }
(class_specifier
  name: (template_type name: (type_identifier) @name)
  body: (field_declaration_list)) @definition.class

(struct_specifier
  name: (template_type name: (type_identifier) @name)
  body: (field_declaration_list)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

(enumerator name: (identifier) @name) @definition.constant

(alias_declaration name: (type_identifier) @name) @definition.type

(type_definition
  type: [
    (class_specifier !name body: (_))
    (struct_specifier !name body: (_))
  ]
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: [
    (primitive_type)
    (type_identifier)
    (sized_type_specifier)
    (qualified_identifier)
    (template_type)
    (struct_specifier !body)
    (class_specifier !body)
    (enum_specifier !body)
  ]
  declarator: [
    (type_identifier) @name
    (pointer_declarator declarator: (type_identifier) @name)
    (function_declarator
      declarator: (parenthesized_declarator
        (pointer_declarator declarator: (type_identifier) @name)))
  ]) @definition.type

; ---------------------------------------------------------------- functions
; unqualified names (free functions and methods defined in the class body)
(function_definition
  declarator: [
    (function_declarator
      declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name)
    (pointer_declarator
      declarator: (function_declarator
        declarator: [(identifier) (field_identifier) (operator_name)] @name))
    (reference_declarator
      (function_declarator
        declarator: [(identifier) (field_identifier) (operator_name)] @name))
  ]) @definition.function

; out-of-line definitions: Foo::bar
(function_definition
  declarator: [
    (function_declarator
      declarator: (qualified_identifier
        scope: [
          (namespace_identifier) @receiver
          (template_type name: (type_identifier) @receiver)
        ]
        name: [(identifier) (operator_name) (destructor_name)] @name))
    (pointer_declarator
      declarator: (function_declarator
        declarator: (qualified_identifier
          scope: [
            (namespace_identifier) @receiver
            (template_type name: (type_identifier) @receiver)
          ]
          name: [(identifier) (operator_name)] @name)))
    (reference_declarator
      (function_declarator
        declarator: (qualified_identifier
          scope: [
            (namespace_identifier) @receiver
            (template_type name: (type_identifier) @receiver)
          ]
          name: [(identifier) (operator_name)] @name)))
  ]) @definition.method

; ns::Foo::bar -> receiver Foo
(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier
      name: (qualified_identifier
        scope: [
          (namespace_identifier) @receiver
          (template_type name: (type_identifier) @receiver)
        ]
        name: [(identifier) (operator_name) (destructor_name)] @name)))) @definition.method

; ---------------------------------------------------------------- members / variables
(field_declaration
  declarator: [
    (field_identifier) @name
    (pointer_declarator declarator: (field_identifier) @name)
    (reference_declarator (field_identifier) @name)
    (array_declarator declarator: (field_identifier) @name)
  ]) @definition.field

(translation_unit
  (declaration
    declarator: [
      (identifier) @name
      (init_declarator declarator: (identifier) @name)
      (init_declarator declarator: (pointer_declarator declarator: (identifier) @name))
      (pointer_declarator declarator: (identifier) @name)
      (array_declarator declarator: (identifier) @name)
    ]) @definition.variable)

(namespace_definition
  body: (declaration_list
    (declaration
      declarator: [
        (identifier) @name
        (init_declarator declarator: (identifier) @name)
        (init_declarator declarator: (pointer_declarator declarator: (identifier) @name))
        (pointer_declarator declarator: (identifier) @name)
        (array_declarator declarator: (identifier) @name)
      ]) @definition.variable))

; ---------------------------------------------------------------- macros
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

; ---------------------------------------------------------------- references
(call_expression function: (identifier) @reference.call)
(call_expression
  function: (field_expression field: (field_identifier) @reference.call))
(call_expression
  function: (qualified_identifier name: (identifier) @reference.call))
(call_expression
  function: (qualified_identifier
    name: (qualified_identifier name: (identifier) @reference.call)))
(call_expression
  function: (template_function name: (identifier) @reference.call))
(call_expression
  function: (field_expression
    field: (template_method name: (field_identifier) @reference.call)))

(_ type: (type_identifier) @reference.reference)
(_ type: (qualified_identifier name: (type_identifier) @reference.reference))
(template_type name: (type_identifier) @reference.reference)
(base_class_clause (type_identifier) @reference.reference)
(base_class_clause (qualified_identifier name: (type_identifier) @reference.reference))

; ---------------------------------------------------------------- includes
(preproc_include
  path: (string_literal (string_content) @import.module)) @import

(preproc_include
  path: (system_lib_string) @import.module) @import
