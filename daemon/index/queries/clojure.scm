; Clojure definitions, references and imports for axd.
;
; Definitions (list forms whose first symbol is a def-form, matched with predicates)
;   (ns a.b ...)                 -> module (spans the ns form only; defs are not nested)
;   (defn f ...) / (defn- f ...) / (defmulti f ...) -> function
;   (defmacro m ...)             -> macro
;   (def x ...) / (defonce x ...) -> variable
;   (defprotocol P ...) / (definterface I ...) -> interface
;   (defrecord R ...) / (deftype T ...)        -> class
;   docstring: the string right after the name of defn/defn-/defmacro/defprotocol -> @docstring
; References: heads of list forms (calls, including macros; special forms and def-forms
;   are excluded), `ns/f` calls give `f`.
; Imports: libs named in `(:require ...)` / `(:use ...)` of the ns form (`[a.b :as c]` or
;   bare `a.b`), classes' packages in `(:import (java.util Date))` / `[java.util Date]`.

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)) @definition.module
  (#eq? @_kw "ns"))

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)
   . (str_lit)? @docstring) @definition.function
  (#any-of? @_kw "defn" "defn-" "defmulti"))

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)
   . (str_lit)? @docstring) @definition.macro
  (#eq? @_kw "defmacro"))

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)) @definition.variable
  (#any-of? @_kw "def" "defonce"))

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)
   . (str_lit)? @docstring) @definition.interface
  (#any-of? @_kw "defprotocol" "definterface"))

((list_lit
   . (sym_lit name: (sym_name) @_kw)
   . (sym_lit name: (sym_name) @name)) @definition.class
  (#any-of? @_kw "defrecord" "deftype"))

; ---------------------------------------------------------------- references
((list_lit . (sym_lit name: (sym_name) @reference.call))
  (#not-match? @reference.call "^(ns|def|defn|defn-|defmacro|defonce|defmulti|defmethod|defprotocol|definterface|defrecord|deftype|fn|fn\\*|let|letfn|loop|recur|if|do|quote|var|throw|try|catch|finally|new|set!|\\.)$"))

; ---------------------------------------------------------------- imports
((list_lit
   . (kwd_lit name: (kwd_name) @_kw)
   [(vec_lit . (sym_lit) @import.module)
    (sym_lit) @import.module]) @import
  (#any-of? @_kw "require" "use"))

((list_lit
   . (kwd_lit name: (kwd_name) @_kw)
   [(list_lit . (sym_lit) @import.module)
    (vec_lit . (sym_lit) @import.module)
    (sym_lit) @import.module]) @import
  (#eq? @_kw "import"))
