; SCSS definitions, references and imports for axd.
;
; Definitions
;   `$name: value` at the top level        -> variable (name includes the `$`)
;   custom properties `--x: value`         -> variable
;   @mixin name(...)                       -> macro
;   @function name(...)                    -> function
;   @keyframes name                        -> constant
; References: `@include mixin(...)` and function calls -> @reference.call; class names in
;   selectors -> @reference.reference.
; Imports: @use / @forward / @import "x" (module = the string; quotes stripped by the
;   extractor).

(stylesheet (declaration (property_name) @name) @definition.variable)
((declaration (property_name) @name) @definition.variable
  (#match? @name "^--"))
(mixin_statement name: (identifier) @name) @definition.macro
(function_statement name: (identifier) @name) @definition.function
(keyframes_statement (keyframes_name) @name) @definition.constant

; ---------------------------------------------------------------- references
(include_statement (identifier) @reference.call)
(call_expression (function_name) @reference.call)
(class_selector (class_name) @reference.reference)

; ---------------------------------------------------------------- imports
(use_statement (string_value) @import.module) @import
(forward_statement (string_value) @import.module) @import
(import_statement (string_value) @import.module) @import
