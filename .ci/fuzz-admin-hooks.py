"""Schemathesis hooks for .ci/fuzz-admin.

The admin API's `_bulk` endpoints read NDJSON: their request bodies are
documented as the array of their lines, and sent here one item a line (a
generated value that is not an array is sent as a single line).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
