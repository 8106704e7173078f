; axd query for JSON. Capture convention: see the header of daemon/extract.py.
; Every object key is a `key` definition; nesting qualifies it
; (`scripts.build`). The registry bounds depth and count.

(pair key: (string (string_content) @name)) @definition.key
