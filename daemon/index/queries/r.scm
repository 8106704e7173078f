; R definitions, references and imports for axd.
;
; Definitions
;   name <- function(...) / name = function(...) / name <<- function(...) /
;   function(...) -> name                                   -> function
;   (S3 methods such as `print.foo <- function` keep their dotted name)
;   top-level `NAME <- value` (non-function)                 -> variable
;   setClass("X") / setRefClass("X") / R6Class("X")          -> class named X (the string)
; References: callees (`f(x)`, `pkg::f(x)`).
; Imports: library(pkg) / require(pkg) / requireNamespace("pkg") (bare name or string),
;   source("file.R").

(binary_operator
  lhs: [(identifier) (string)] @name
  operator: ["<-" "<<-" "="]
  rhs: (function_definition)) @definition.function

(binary_operator
  lhs: (function_definition)
  operator: ["->" "->>"]
  rhs: (identifier) @name) @definition.function

((program
   (binary_operator
     lhs: (identifier) @name
     operator: ["<-" "<<-" "="]
     rhs: (_) @_value) @definition.variable)
  (#not-match? @_value "^(function\\b|\\\\\\(|(setClass|setRefClass|R6Class|R6::R6Class)\\s*\\()"))

((call
   function: [(identifier) @_fn
              (namespace_operator rhs: (identifier) @_fn)]
   arguments: (arguments
     . (argument value: (string (string_content) @name)))) @definition.class
  (#any-of? @_fn "setClass" "setRefClass" "R6Class"))

; ---------------------------------------------------------------- references
((call function: (identifier) @reference.call)
  (#not-match? @reference.call "^(library|require|source|requireNamespace)$"))
(call function: (namespace_operator rhs: (identifier) @reference.call))

; ---------------------------------------------------------------- imports
((call
   function: (identifier) @_fn
   arguments: (arguments
     . (argument value: [(identifier) @import.module (string (string_content) @import.module)]))) @import
  (#any-of? @_fn "library" "require" "requireNamespace" "source"))
