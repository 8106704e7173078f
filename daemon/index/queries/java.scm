; axd query for Java. Capture convention: see the header of daemon/extract.py.
; Annotations sit inside the declaration's `modifiers`, so they are in range
; without a wrapper.

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(enum_constant name: (identifier) @name) @definition.constant
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(compact_constructor_declaration name: (identifier) @name) @definition.method
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @definition.field
(constant_declaration declarator: (variable_declarator name: (identifier) @name)) @definition.constant

; References.
(method_invocation name: (identifier) @reference.call)
(object_creation_expression type: (type_identifier) @reference.call)
(object_creation_expression type: (generic_type (type_identifier) @reference.call))
(superclass (type_identifier) @reference.reference)
(super_interfaces (type_list (type_identifier) @reference.reference))
(formal_parameter type: (type_identifier) @reference.reference)
(field_declaration type: (type_identifier) @reference.reference)
(marker_annotation name: (identifier) @reference.reference)
(annotation name: (identifier) @reference.reference)

; Imports: the dotted name as written (`java.util.List`, `java.util` for
; `java.util.*`).
(import_declaration (scoped_identifier) @import.module) @import
(import_declaration (identifier) @import.module) @import
(import_declaration (scoped_identifier name: (identifier) @reference.import) .)
