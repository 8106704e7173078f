; Haskell definitions, references and imports for axd.
;
; Definitions (one symbol per function, not per equation)
;   data / newtype / type synonym -> type;  record fields -> field
;   class C                       -> interface (its method signatures -> function,
;                                    i.e. method by nesting)
;   instance C T                  -> @scope named T (instance methods qualify as T.f)
;   top-level function: its type signature and every equation; the extractor merges
;     consecutive ones of the same name into one symbol spanning them all (LanguageSpec
;     merge_clauses), so a comment between signature and equations is harmless
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

; signatures and every equation of declarations at top level, in a class or in an
; instance (not local `where`/`let` bindings); the extractor merges consecutive ones of
; one name into one symbol (merge_clauses)
(declarations (signature name: (variable) @name) @definition.function)
(declarations (function name: (variable) @name) @definition.function)
(declarations (bind name: (variable) @name) @definition.function)
(class_declarations (signature name: (variable) @name) @definition.function)
(class_declarations (function name: (variable) @name) @definition.function)
(class_declarations (bind name: (variable) @name) @definition.function)
(instance_declarations (signature name: (variable) @name) @definition.function)
(instance_declarations (function name: (variable) @name) @definition.function)
(instance_declarations (bind name: (variable) @name) @definition.function)
; ---------------------------------------------------------------- references
(apply function: (variable) @reference.call)
(apply function: (qualified id: (variable) @reference.call))
(name) @reference.reference

; ---------------------------------------------------------------- imports
(import module: (module) @import.module) @import
