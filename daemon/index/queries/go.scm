; axd query for Go. Capture convention: see the header of daemon/extract.py.
; `type X ...`, `const` and `var` specs are the definitions; the registry's
; wrapper_types grows a lone spec to its declaration so the doc comment above
; `type` attaches.

(function_declaration name: (identifier) @name) @definition.function

; Methods are qualified by the receiver's type name: (s *Server), (s Server),
; (s *Stack[T]).
(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [
        (type_identifier) @receiver
        (pointer_type (type_identifier) @receiver)
        (generic_type type: (type_identifier) @receiver)
        (pointer_type (generic_type type: (type_identifier) @receiver))
      ]))
  name: (field_identifier) @name) @definition.method

(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec
  name: (type_identifier) @name
  type: [
    (type_identifier) (qualified_type) (pointer_type) (slice_type) (map_type)
    (array_type) (channel_type) (function_type) (generic_type)
  ]) @definition.type
(type_alias name: (type_identifier) @name) @definition.type

(field_declaration name: (field_identifier) @name) @definition.field
(method_elem name: (field_identifier) @name) @definition.method

(source_file (const_declaration (const_spec name: (identifier) @name) @definition.constant))
(source_file (var_declaration (var_spec name: (identifier) @name) @definition.variable))
(source_file
  (var_declaration (var_spec_list (var_spec name: (identifier) @name) @definition.variable)))

; References.
(call_expression function: (identifier) @reference.call)
(call_expression function: (selector_expression field: (field_identifier) @reference.call))
(composite_literal type: (type_identifier) @reference.reference)
(parameter_declaration type: (type_identifier) @reference.reference)
(parameter_declaration type: (pointer_type (type_identifier) @reference.reference))
(qualified_type name: (type_identifier) @reference.reference)

; Imports: one record per spec, the path without quotes.
(import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @import.module)) @import
