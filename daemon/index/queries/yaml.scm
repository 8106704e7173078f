; axd query for YAML. Capture convention: see the header of daemon/extract.py.
; Every mapping key is a `key` definition; nesting qualifies it
; (`service.name`). The registry bounds depth and count.

(block_mapping_pair key: (_) @name) @definition.key
(flow_pair key: (_) @name) @definition.key
