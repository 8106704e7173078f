; CMake definitions, references and imports for axd.
;
; Definitions
;   function(name args...) ... endfunction()  -> function
;   macro(name args...) ... endmacro()        -> macro
;   (the name is the first argument of the opening command; the range is the whole block)
; References: every command invocation `name(...)` -> @reference.call (built-in commands
;   included: CMake does not tell user functions from built-ins syntactically);
;   `${VAR}` uses -> @reference.reference.
; Imports: `include(Module)` / `include(path/x.cmake)` and `add_subdirectory(dir)`
;   (module = the first argument as written; quotes stripped by the extractor).
;   Command names are case-insensitive in CMake, hence the (?i) predicates.

(function_def
  (function_command
    (argument_list . (argument) @name))) @definition.function

(macro_def
  (macro_command
    (argument_list . (argument) @name))) @definition.macro

; ---------------------------------------------------------------- references
(normal_command (identifier) @reference.call)
(variable_ref (normal_var (variable) @reference.reference))

; ---------------------------------------------------------------- imports
((normal_command
   (identifier) @_command
   (argument_list . (argument) @import.module)) @import
  (#match? @_command "(?i)^(include|add_subdirectory)$"))
