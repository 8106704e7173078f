; HCL / Terraform definitions, references and imports for axd.
;
; Choices
;   blocks with two labels: `resource "aws_s3_bucket" "invoices" {}`, `data "t" "n" {}`,
;     Packer `source "amazon-ebs" "x" {}`   -> class; @name = second label, @receiver =
;     first label (so the qualified name is `aws_s3_bucket.invoices`, the Terraform
;     address without the `data.` prefix)
;   `module "vpc" {}`                       -> module
;   `variable "region" {}`                  -> variable
;   `output "arn" {}`                       -> property
;   any other block with one label (`provider "aws"`, Nomad `job "x"`) -> class
;   attributes inside `locals {}`           -> variable
;   top-level attributes `key = value` (.tfvars, generic .hcl config) -> key
;   Names are the label text without quotes (template_literal nodes).
; References: function calls (`merge(...)`), `var.x`, `local.x`, `module.x`, `data.x`
;   (the name after the prefix).
; Imports: `module "x" { source = "..." }` (module = the source string).

(block
  (identifier)
  .
  (string_lit (template_literal) @receiver)
  .
  (string_lit (template_literal) @name)
  .
  (block_start)) @definition.class

((block
   (identifier) @_type
   .
   (string_lit (template_literal) @name)
   .
   (block_start)) @definition.module
  (#eq? @_type "module"))

((block
   (identifier) @_type
   .
   (string_lit (template_literal) @name)
   .
   (block_start)) @definition.variable
  (#eq? @_type "variable"))

((block
   (identifier) @_type
   .
   (string_lit (template_literal) @name)
   .
   (block_start)) @definition.property
  (#eq? @_type "output"))

((block
   (identifier) @_type
   .
   (string_lit (template_literal) @name)
   .
   (block_start)) @definition.class
  (#not-match? @_type "^(module|variable|output)$"))

((block
   (identifier) @_type
   (body (attribute (identifier) @name) @definition.variable))
  (#eq? @_type "locals"))

(config_file (body (attribute (identifier) @name) @definition.key))

; ---------------------------------------------------------------- references
(function_call (identifier) @reference.call)
((expression
   (variable_expr (identifier) @_prefix)
   .
   (get_attr (identifier) @reference.reference))
  (#any-of? @_prefix "var" "local" "module" "data"))

; ---------------------------------------------------------------- imports
((block
   (identifier) @_type
   (body
     (attribute
       (identifier) @_key
       (expression (literal_value (string_lit (template_literal) @import.module)))))) @import
  (#eq? @_type "module")
  (#eq? @_key "source"))
