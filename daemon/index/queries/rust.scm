; axd query for Rust. Capture convention: see the header of daemon/extract.py.
; `impl` blocks are scopes: they qualify the functions inside them (which the
; extractor then calls methods) without being symbols themselves.

(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(mod_item name: (identifier) @name) @definition.module
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.variable
(macro_definition name: (identifier) @name) @definition.macro
(field_declaration_list (field_declaration name: (field_identifier) @name) @definition.field)
(enum_variant_list (enum_variant name: (identifier) @name) @definition.constant)
(associated_type name: (type_identifier) @name) @definition.type

; `impl Type`, `impl<T> Type<T>`, `impl Trait for Type`: the scope is named by
; the implementing type, so a trait method is `Shape.fmt`.
(impl_item
  type: [
    (type_identifier) @scope.name
    (generic_type type: (type_identifier) @scope.name)
    (scoped_type_identifier name: (type_identifier) @scope.name)
  ]) @scope

; References.
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(call_expression function: (scoped_identifier name: (identifier) @reference.call))
(macro_invocation macro: (identifier) @reference.call)
; Macro arguments are token trees, not expressions (test bodies in
; `rgtest!(name, |dir| { dir.create("f") })`, `tri!(x.deserialize(d))`): a
; name right before a parenthesised token tree is read as a call.
(token_tree
  (identifier) @reference.call
  .
  (token_tree . "("))
(struct_expression name: (type_identifier) @reference.reference)
(impl_item trait: (type_identifier) @reference.reference)
(type_arguments (type_identifier) @reference.reference)
(parameter type: (type_identifier) @reference.reference)

; Imports: the path as written after `use` (`std::collections::HashMap`,
; `crate::a::{b, c}`), and the names it brings in.
(use_declaration argument: (_) @import.module) @import
(use_declaration argument: (scoped_identifier name: (identifier) @reference.import))
(use_list (identifier) @reference.import)
(use_list (scoped_identifier name: (identifier) @reference.import))
(use_as_clause path: (scoped_identifier name: (identifier) @reference.import))
(extern_crate_declaration name: (identifier) @import.module) @import
