; Ruby definitions, references and requires for axd.
;
; Definitions
;   module M                 -> module
;   class C / class A::C     -> class (for `A::C` the name is C and A is the @receiver)
;   def at top level         -> function
;   def inside a class/module body, block or singleton class -> method
;   def self.x / def Obj.x   -> method (`Obj` becomes the @receiver; `self` qualifies
;                               through nesting)
;   CONST = ...              -> constant
;   attr_reader/attr_writer/attr_accessor :a, :b -> property a, b (the call is the
;                               definition of each; the name is the symbol without `:`)
; References: method names of calls (`foo(1)`, `a.foo`, `Foo.new`), constants used as
;   superclass, receiver, or mixin argument.
; Imports: require / require_relative / load "x" (module = the string content).

(module name: (constant) @name) @definition.module
(module
  name: (scope_resolution
    scope: (_) @receiver
    name: (constant) @name)) @definition.module

(class name: (constant) @name) @definition.class
(class
  name: (scope_resolution
    scope: (_) @receiver
    name: (constant) @name)) @definition.class

(program (method name: (_) @name) @definition.function)
(body_statement (method name: (_) @name) @definition.method)
(block_body (method name: (_) @name) @definition.method)

(singleton_method object: (self) name: (_) @name) @definition.method
(singleton_method
  object: [(constant) (identifier)] @receiver
  name: (_) @name) @definition.method

(assignment left: (constant) @name) @definition.constant

(call
  method: (identifier) @_attr
  arguments: (argument_list (simple_symbol) @name)
  (#match? @_attr "^attr_(reader|writer|accessor)$")) @definition.property

; ---------------------------------------------------------------- references
(call method: (identifier) @reference.call)
(call method: (constant) @reference.call)
(superclass (constant) @reference.reference)
(superclass (scope_resolution name: (constant) @reference.reference))
(call receiver: (constant) @reference.reference)
(call
  method: (identifier) @_mixin
  arguments: (argument_list (constant) @reference.reference)
  (#any-of? @_mixin "include" "extend" "prepend"))

; ---------------------------------------------------------------- imports
(call
  method: (identifier) @_req
  arguments: (argument_list . (string (string_content) @import.module))
  (#any-of? @_req "require" "require_relative" "load" "autoload")) @import
