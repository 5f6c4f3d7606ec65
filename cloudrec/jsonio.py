"""JSON in and out at every boundary (WebSocket messages, REST and netdisk bodies).

Reading never raises anything but a PARAM_ERR that says what was wrong:
Python's parser fails in several ways of its own on hostile input (deep
nesting, integers past 4,300 digits) and accepts strings that nothing after it
can encode (a lone UTF-16 surrogate), so all of that is settled here, once.
"""

from __future__ import annotations

import json
from typing import Any

from cloudrec.errors import CloudrecError, ErrorCode

# Deeper than any document of ours; well under the interpreter's recursion limit,
# so nothing that walks a parsed value recursively can overflow.
MAX_DEPTH = 32


def _bad(what: str, message: str) -> CloudrecError:
    return CloudrecError(ErrorCode.PARAM_ERR, f"{what} {message}")


def _depth_ok(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def parse(text: str, what: str = "message") -> Any:
    """``text`` as JSON; ``what`` names it in the error ("body", "message")."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(what, f"is not JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError as exc:  # an integer past the interpreter's digit limit
        raise _bad(what, f"holds a number that cannot be read: {str(exc)[:80]}") from None
    except RecursionError:
        raise _bad(what, f"is nested deeper than {MAX_DEPTH} levels") from None
    if not _depth_ok(value):
        raise _bad(what, f"is nested deeper than {MAX_DEPTH} levels")
    try:
        # A lone surrogate (from a "\ud800" escape) is valid JSON but no UTF-8:
        # it would fail later in a token check, a file name or SQLite.
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(what, "holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    except ValueError:  # NaN and the infinities are read but are no JSON
        raise _bad(what, "holds a number out of range (NaN or infinity)") from None
    return value


def parse_object(text: str, what: str = "body") -> dict[str, Any]:
    value = parse(text, what)
    if not isinstance(value, dict):
        raise _bad(what, "must be a JSON object")
    return value


def dumps(value: Any) -> str:
    """What we send: compact, strict (no NaN), non-ASCII as itself."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def size(value: Any) -> int:
    """Bytes ``value`` takes on the wire, as ``dumps`` writes it."""
    return len(dumps(value).encode("utf-8"))
