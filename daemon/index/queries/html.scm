; HTML imports for axd (no definitions: LanguageSpec.has_definitions is False and HTML
; files are otherwise only chunked).
;
; Imports: `<script src="x.js">` and `<link href="x.css">` (module = the attribute
;   value; quotes are outside the attribute_value node).

(script_element
  (start_tag
    (attribute
      (attribute_name) @_attr
      [(attribute_value) (quoted_attribute_value (attribute_value))] @import.module)
    (#eq? @_attr "src"))) @import

(element
  (start_tag
    (tag_name) @_tag
    (attribute
      (attribute_name) @_attr
      [(attribute_value) (quoted_attribute_value (attribute_value))] @import.module)
    (#eq? @_tag "link")
    (#eq? @_attr "href"))) @import
