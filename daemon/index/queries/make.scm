; Makefile definitions, references and includes for axd.
;
; Definitions
;   rule targets `build: deps`  -> function (one per target word; special targets such as
;                                  .PHONY / .SUFFIXES are skipped)
;   `VAR = ...`, `VAR := ...`, `VAR ?= ...`, `VAR += ...` -> variable
;   `define NAME ... endef`     -> macro
; References: prerequisites that are plain words -> @reference.call (targets invoked by
;   other targets); `$(VAR)` uses -> @reference.reference.
; Imports: `include a.mk b.mk`, `-include x.mk`, `sinclude x.mk` (one import per file).

((rule (targets (word) @name)) @definition.function
  (#not-match? @name "^\\.[A-Z_]+$"))

(variable_assignment name: (word) @name) @definition.variable
(define_directive name: (word) @name) @definition.macro

; ---------------------------------------------------------------- references
(prerequisites (word) @reference.call)
(variable_reference (word) @reference.reference)

; ---------------------------------------------------------------- imports
(include_directive filenames: (list (word) @import.module)) @import
