; Dockerfile definitions, references and imports for axd.
;
; Definitions
;   `FROM image AS stage`   -> module named after the stage alias
;   `ARG NAME[=default]`    -> variable
;   `ENV NAME=value`        -> variable
; References: `COPY --from=stage` is not tracked; a `FROM stage` naming an earlier stage
;   is an import like any other base image.
; Imports: base images of FROM (module = image name as written, without tag/digest).

(from_instruction as: (image_alias) @name) @definition.module
(arg_instruction name: (unquoted_string) @name) @definition.variable
(env_instruction (env_pair name: (unquoted_string) @name)) @definition.variable

; ---------------------------------------------------------------- imports
(from_instruction (image_spec name: (image_name) @import.module)) @import
