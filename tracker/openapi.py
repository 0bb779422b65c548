"""Describe in the OpenAPI schema the refusals every API operation can answer."""

ERROR = {
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}
}
COMMON = {
    "401": "Not authenticated.",
    "403": "Not allowed (CSRF, origin or permission).",
    "404": "Not found, or not yours.",
    "429": "Rate limited; see Retry-After.",
    "503": "Database unavailable; see Retry-After.",
}
WRITE = {"400": "Invalid input; the errors name the fields.", "415": "Unsupported content type."}


def add_error_responses(result: dict, generator, request, public) -> dict:
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            refusals = {**COMMON, **(WRITE if method in ("post", "put", "patch") else {})}
            if method == "get" and any(
                p["name"] == "page" for p in operation.get("parameters", [])
            ):
                refusals["404"] = "Not found, not yours, or no such page."
            responses = operation.setdefault("responses", {})
            for status, description in refusals.items():
                responses.setdefault(status, {"description": description, **ERROR})
    return result
