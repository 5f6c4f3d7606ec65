"""Validates real responses against the served OpenAPI document."""

from __future__ import annotations

from typing import Any

import jsonschema

from signaling.openapi import openapi_document

_DOC = openapi_document()


def validate(schema_name: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _DOC["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


def response_schema(path: str, method: str, status: int) -> str | None:
    responses = _DOC["paths"][path][method]["responses"]
    entry = responses.get(str(status))
    if entry is None:
        raise AssertionError(f"{method.upper()} {path} is not documented to answer {status}")
    ref = entry.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] or None
