; Bash / POSIX shell definitions, references and imports for axd.
;
; Definitions
;   `name() { }` / `function name { }` -> function
;   top-level `X=1`, `export X=1`, `readonly X=1`, `declare X=1` -> variable
;   (variables assigned inside functions are not captured)
; References: command names (`build "$@"`, `make -C dir`) -> @reference.call; this
;   includes external programs, which is intended.
; Imports: `source FILE` and `. FILE` (module = the first argument as written; quotes are
;   stripped by the extractor, `$VAR` expansions are kept).

(function_definition name: (word) @name) @definition.function

(program (variable_assignment name: (variable_name) @name) @definition.variable)
(program
  (declaration_command
    (variable_assignment name: (variable_name) @name)) @definition.variable)

; ---------------------------------------------------------------- references
((command name: (command_name (word) @reference.call))
  (#not-match? @reference.call "^(source|\\.)$"))

; ---------------------------------------------------------------- imports
(command
  name: (command_name (word) @_src)
  .
  argument: [(word) (string) (raw_string) (concatenation)] @import.module
  (#match? @_src "^(source|\\.)$")) @import
