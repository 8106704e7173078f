; Haskell definitions, references and imports for axd.
;
; Definitions (one symbol per function, not per equation)
;   data / newtype / type synonym -> type;  record fields -> field
;   class C                       -> interface (its method signatures -> function,
;                                    i.e. method by nesting)
;   instance C T                  -> @scope named T (instance methods qualify as T.f)
;   top-level function: its type signature if there is one, otherwise its first equation
;     (an equation is captured only when the declaration before it is neither its
;     signature nor an earlier equation of the same name; a comment between signature
;     and first equation defeats this, so the extractor should still merge equal
;     name/kind/parent symbols that follow each other)
;   `x = ...` pattern bindings at top level -> function (Haskell values are functions)
;   Local `where`/`let` bindings are not captured.
; References: applied functions (`f x`, `M.f x`), type constructor names.
; Imports: `import Data.Map (Map)`, `import qualified Data.Text as T` (module = dotted name).

(data_type name: (name) @name) @definition.type
(newtype name: (name) @name) @definition.type
(type_synomym name: (name) @name) @definition.type
(field name: (field_name (variable) @name)) @definition.field

(class name: (name) @name) @definition.interface

(instance patterns: (type_patterns . (name) @scope.name)) @scope

(signature name: (variable) @name) @definition.function

; first equation when there is no signature
(declarations . (function name: (variable) @name) @definition.function)
(class_declarations . (function name: (variable) @name) @definition.function)
(instance_declarations . (function name: (variable) @name) @definition.function)
(declarations . (bind name: (variable) @name) @definition.function)

(_
  (signature name: (variable) @_prev)
  .
  (function name: (variable) @name) @definition.function
  (#not-eq? @_prev @name))

(_
  (function name: (variable) @_prev)
  .
  (function name: (variable) @name) @definition.function
  (#not-eq? @_prev @name))

(_
  [(data_type) (newtype) (type_synomym) (class) (instance) (import) (bind)
   (fixity) (deriving_instance) (type_family) (type_instance) (data_family)
   (pattern_synonym) (foreign_import) (foreign_export) (top_splice)]
  .
  (function name: (variable) @name) @definition.function)

(_
  (signature name: (variable) @_prev)
  .
  (bind name: (variable) @name) @definition.function
  (#not-eq? @_prev @name))

(_
  [(data_type) (newtype) (type_synomym) (class) (instance) (function) (bind)]
  .
  (bind name: (variable) @name) @definition.function)

; ---------------------------------------------------------------- references
(apply function: (variable) @reference.call)
(apply function: (qualified id: (variable) @reference.call))
(name) @reference.reference

; ---------------------------------------------------------------- imports
(import module: (module) @import.module) @import
