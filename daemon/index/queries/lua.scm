; Lua definitions, references and imports for axd.
;
; Definitions
;   function f() / local function f()         -> function
;   function M.f() / function a.b.f()         -> function `f` with @receiver `M` / `b`
;   function M:f()                            -> method `f` with @receiver `M`
;   M.f = function() end                      -> function `f` with @receiver `M`
;   local f = function() end / f = function() end (top level) -> function
;   top-level `local X = <literal or table>`  -> variable
; References: callees (`f()`, `a.f()`, `a:f()`).
; Imports: require("mod") / require "mod" / require 'mod' (module = string content).

(function_declaration name: (identifier) @name) @definition.function

(function_declaration
  name: (dot_index_expression
    table: [
      (identifier) @receiver
      (dot_index_expression field: (identifier) @receiver)
    ]
    field: (identifier) @name)) @definition.function

(function_declaration
  name: (method_index_expression
    table: [
      (identifier) @receiver
      (dot_index_expression field: (identifier) @receiver)
    ]
    method: (identifier) @name)) @definition.method

(assignment_statement
  (variable_list
    .
    name: (dot_index_expression
      table: [
        (identifier) @receiver
        (dot_index_expression field: (identifier) @receiver)
      ]
      field: (identifier) @name))
  (expression_list . value: (function_definition))) @definition.function

(variable_declaration
  (assignment_statement
    (variable_list . name: (identifier) @name)
    (expression_list . value: (function_definition)))) @definition.function

(chunk
  (assignment_statement
    (variable_list . name: (identifier) @name)
    (expression_list . value: (function_definition))) @definition.function)

(chunk
  (variable_declaration
    (assignment_statement
      (variable_list . name: (identifier) @name)
      (expression_list
        .
        value: [(number) (string) (table_constructor) (true) (false)]))) @definition.variable)

; ---------------------------------------------------------------- references
((function_call name: (identifier) @reference.call)
  (#not-eq? @reference.call "require"))
(function_call name: (dot_index_expression field: (identifier) @reference.call))
(function_call name: (method_index_expression method: (identifier) @reference.call))

; ---------------------------------------------------------------- imports
(function_call
  name: (identifier) @_req
  arguments: (arguments . (string content: (string_content) @import.module))
  (#eq? @_req "require")) @import
