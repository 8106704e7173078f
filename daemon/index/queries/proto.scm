; Protocol Buffers (proto2/proto3) definitions, references and imports for axd.
;
; Definitions
;   message -> struct (nested messages qualify: Invoice.Line)
;   enum -> enum; enum values -> constant
;   service -> interface; rpc -> method
;   message fields, map fields, oneof members -> field
;   The `package a.b;` line is not a symbol (package prefix).
; References: message/enum types used by fields and rpcs (last segment of a dotted type).
; Imports: `import "x.proto";`, `import public|weak "x.proto";`.

(message (message_name (identifier) @name)) @definition.struct
(enum (enum_name (identifier) @name)) @definition.enum
(enum_field . (identifier) @name) @definition.constant
(service (service_name (identifier) @name)) @definition.interface
(rpc (rpc_name (identifier) @name)) @definition.method
(field (identifier) @name . (field_number)) @definition.field
(map_field (identifier) @name . (field_number)) @definition.field
(oneof_field (identifier) @name . (field_number)) @definition.field

; ---------------------------------------------------------------- references
(message_or_enum_type (identifier) @reference.reference .)

; ---------------------------------------------------------------- imports
(import path: (string) @import.module) @import
