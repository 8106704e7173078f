"""The OpenRPC document behind `rpc.discover`, generated from the method table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from axd.protocol import PROTOCOL_VERSION, __version__

if TYPE_CHECKING:
    from collections.abc import Iterable

    from axd.protocol.methods import Method


def _ref_template(name: str) -> str:
    return f"#/components/schemas/{name}"


def openrpc_document(methods: Iterable[Method[Any, Any]]) -> dict[str, Any]:
    """An OpenRPC 1.2 document: one entry per method, params by name."""
    methods = [m for m in methods if m.name != "rpc.discover"]
    types: list[Any] = []
    for method in methods:
        types += [method.params, method.result]
    schemas, components = msgspec.json.schema_components(
        types, ref_template=_ref_template("{name}")
    )
    entries = []
    for method, (params_schema, result_schema) in zip(
        methods, zip(schemas[0::2], schemas[1::2], strict=True), strict=True
    ):
        params = _params_of(params_schema, components)
        entries.append(
            {
                "name": method.name,
                "summary": method.summary,
                "paramStructure": "by-name",
                "params": params,
                "result": {"name": "result", "schema": result_schema},
            }
        )
    return {
        "openrpc": "1.2.6",
        "info": {
            "title": "axd",
            "version": __version__,
            "x-protocol-version": PROTOCOL_VERSION,
        },
        "methods": entries,
        "components": {"schemas": components},
    }


def _params_of(
    schema: dict[str, Any], components: dict[str, Any]
) -> list[dict[str, Any]]:
    ref = schema.get("$ref", "")
    resolved = components.get(ref.rsplit("/", 1)[-1], schema) if ref else schema
    required = set(resolved.get("required", []))
    return [
        {"name": name, "required": name in required, "schema": prop}
        for name, prop in resolved.get("properties", {}).items()
    ]
