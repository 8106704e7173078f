; Markdown headings for axd (block grammar `markdown`; inline content is not parsed).
;
; ATX (`# Title`) and setext (`Title` + `===`/`---`) headings -> heading, name = the
; heading text as written (inline markup such as `code` kept).  The definition node is the
; heading itself, not its `section`, so headings never nest: their names stay unqualified.
; No references or imports (links live in the separate markdown_inline grammar).

(atx_heading heading_content: (inline) @name) @definition.heading
(setext_heading heading_content: (paragraph (inline) @name)) @definition.heading
