; C# definitions, references and imports for axd.
;
; Definitions
;   namespace N { } / namespace A.B { }      -> namespace (name = the name as written,
;                                               possibly dotted; file-scoped `namespace N;`
;                                               is captured too but spans only its line)
;   class / record / record struct          -> class      struct -> struct
;   interface -> interface   enum -> enum (members -> constant)
;   delegate -> type
;   method / constructor / destructor / operator-less methods -> method
;   property / indexer-less properties      -> property
;   field / event field                     -> field
; References: invoked names (`F()`, `a.F()`, `F<T>()`), type names in type positions,
;   base lists and `new T()`.
; Imports: `using A.B;`, `using static A.B;`, `using X = A.B;` (module = A.B).

(namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.namespace

(file_scoped_namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.namespace

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(enum_member_declaration name: (identifier) @name) @definition.constant
(delegate_declaration name: (identifier) @name) @definition.type

(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(destructor_declaration name: (identifier) @name) @definition.method

(property_declaration name: (identifier) @name) @definition.property

(field_declaration
  (variable_declaration
    (variable_declarator name: (identifier) @name))) @definition.field

(event_field_declaration
  (variable_declaration
    (variable_declarator name: (identifier) @name))) @definition.field

; ---------------------------------------------------------------- references
(invocation_expression function: (identifier) @reference.call)
(invocation_expression
  function: (member_access_expression name: (identifier) @reference.call))
(invocation_expression
  function: (member_access_expression name: (generic_name (identifier) @reference.call)))
(invocation_expression function: (generic_name (identifier) @reference.call))

(_ type: (identifier) @reference.reference)
(_ type: (generic_name (identifier) @reference.reference))
(_ returns: (identifier) @reference.reference)
(_ returns: (generic_name (identifier) @reference.reference))
(type_argument_list (identifier) @reference.reference)
(base_list (identifier) @reference.reference)
(base_list (generic_name (identifier) @reference.reference))

; ---------------------------------------------------------------- imports
(using_directive
  !name
  [(identifier) (qualified_name)] @import.module) @import

(using_directive
  name: (identifier)
  "="
  .
  [(identifier) (qualified_name)] @import.module) @import
