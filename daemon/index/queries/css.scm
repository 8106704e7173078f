; CSS definitions, references and imports for axd.
;
; Definitions
;   custom properties `--brand: ...` (declarations whose property starts with --) -> variable
;   @keyframes name                                                       -> constant
;   Selectors are not definitions (a class is "defined" by its use in HTML); class and
;   id names in selectors are captured as @reference.reference instead.
; References: `.class` / `#id` names in selectors, `var(--x)` uses, `animation` names are
;   not tracked.
; Imports: `@import "x.css";`, `@import url(x.css);`, `@import url("x.css");`.

((declaration (property_name) @name) @definition.variable
  (#match? @name "^--"))

(keyframes_statement (keyframes_name) @name) @definition.constant

; ---------------------------------------------------------------- references
(class_selector (class_name (identifier) @reference.reference))
(id_selector (id_name) @reference.reference)
((call_expression
   (function_name) @_fn
   (arguments . (plain_value) @reference.reference))
  (#eq? @_fn "var"))

; ---------------------------------------------------------------- imports
(import_statement (string_value (string_content) @import.module)) @import
((import_statement
   (call_expression
     (function_name) @_fn
     (arguments [(string_value (string_content) @import.module) (plain_value) @import.module]))) @import
  (#eq? @_fn "url"))
