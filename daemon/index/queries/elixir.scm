; Elixir definitions, references and imports for axd.
;
; Definitions (Elixir has no keywords: these are calls whose target is def*, matched
; with predicates)
;   defmodule A.B            -> module named `A.B` (as written; nested modules qualify)
;   defprotocol P            -> interface
;   defimpl P, for: T        -> @scope named T (impl functions qualify as T.f, like a
;                               Rust trait impl)
;   def / defp / defdelegate -> function (`def f(x)`, `def f(x) when g`, `def f, do: x`);
;                               one symbol per clause: consecutive clauses of the same
;                               function are separate matches (extractor should merge)
;   defmacro / defmacrop / defguard / defguardp -> macro
;   defstruct / defexception are not separate symbols (the struct is the module)
;   @attr value              -> constant (except doc/moduledoc/spec/... attributes)
;   @type / @typep / @opaque t :: ... -> type
;   @doc "..." / @moduledoc "..." strings -> @docstring of the following def / the module
; References: local calls `f(x)`, remote calls `Mod.f(x)` (callee f), module aliases
;   used as remote call targets.  Definition heads also look like calls, so the def
;   names are captured as @reference.call too: drop references whose node is a @name.
; Imports: alias / import / require / use Mod (module `Mod`; for `alias A.{B, C}` the
;   module is `A`).

; ---------------------------------------------------------------- modules
(call
  target: (identifier) @_kw
  (arguments . (alias) @name)
  (do_block
    .
    (unary_operator
      operand: (call
        target: (identifier) @_doc
        (arguments . (string (quoted_content) @docstring))))?)
  (#eq? @_kw "defmodule")
  (#eq? @_doc "moduledoc")) @definition.module

(call
  target: (identifier) @_kw
  (arguments . (alias) @name)
  (#eq? @_kw "defprotocol")) @definition.interface

(call
  target: (identifier) @_kw
  (arguments
    (keywords
      (pair
        key: (keyword) @_for
        value: (alias) @scope.name)))
  (#eq? @_kw "defimpl")
  (#match? @_for "^for:")) @scope

; ---------------------------------------------------------------- functions
(
  (unary_operator
    operand: (call
      target: (identifier) @_doc
      (arguments . (string (quoted_content) @docstring))))?
  .
  (call
    target: (identifier) @_kw
    (arguments
      .
      [
        (call target: (identifier) @name)
        (identifier) @name
        (binary_operator
          left: (call target: (identifier) @name)
          operator: "when")
        (binary_operator
          left: (identifier) @name
          operator: "when")
      ])) @definition.function
  (#eq? @_doc "doc")
  (#any-of? @_kw "def" "defp" "defdelegate"))

(call
  target: (identifier) @_kw
  (arguments
    .
    [
      (call target: (identifier) @name)
      (identifier) @name
      (binary_operator
        left: (call target: (identifier) @name)
        operator: "when")
    ])
  (#any-of? @_kw "defmacro" "defmacrop" "defguard" "defguardp")) @definition.macro

; ---------------------------------------------------------------- attributes
(unary_operator
  operator: "@"
  operand: (call
    target: (identifier) @_t
    (arguments
      (binary_operator
        left: [(identifier) @name (call target: (identifier) @name)]
        operator: "::")))
  (#any-of? @_t "type" "typep" "opaque")) @definition.type

(unary_operator
  operator: "@"
  operand: (call
    target: (identifier) @name
    (arguments))
  (#not-match? @name "^(doc|moduledoc|typedoc|spec|type|typep|opaque|callback|macrocallback|impl|behaviour|derive|enforce_keys|dialyzer|compile|deprecated|since|before_compile|after_compile|on_load|external_resource|optional_callbacks|vsn|on_definition)$")) @definition.constant

; ---------------------------------------------------------------- references
((call target: (identifier) @reference.call)
  (#not-match? @reference.call "^(doc|moduledoc|typedoc|spec|type|typep|opaque|callback|impl|behaviour|derive|def|defp|defmodule|defmacro|defmacrop|defguard|defguardp|defdelegate|defprotocol|defimpl|defstruct|defexception|alias|import|require|use|quote|unquote|case|cond|if|unless|with|for|fn|receive|try)$"))
(call target: (dot right: (identifier) @reference.call))
(call target: (dot left: (alias) @reference.reference))

; ---------------------------------------------------------------- imports
(call
  target: (identifier) @_kw
  (arguments . (alias) @import.module)
  (#any-of? @_kw "alias" "import" "require" "use")) @import

(call
  target: (identifier) @_kw
  (arguments . (dot left: (alias) @import.module right: (tuple)))
  (#eq? @_kw "alias")) @import
