"""Vertex's `$(VAR)` expansion of a container's command and args (Kubernetes semantics).

Vertex documents for `containerSpec.command` and `.args`: "Environment variable
references `$(VAR_NAME)` are expanded using the container's environment. If a variable
cannot be resolved, the reference in the input string will be unchanged. The
`$(VAR_NAME)` syntax can be escaped with a double `$$`, ie: `$$(VAR_NAME)`." This is
Kubernetes' expansion (third_party/forked/golang/expansion), ported byte for byte:
`$$` becomes `$`, an unterminated `$(` stays as written, and nothing else (braces,
`${X}`, `%s`) is special.
"""

from __future__ import annotations

from collections.abc import Mapping

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"


def expand(text: str, env: Mapping[str, str]) -> str:
    """`text` with every resolvable `$(NAME)` replaced by env[NAME]."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_name(text[cursor + 1 :])
            if is_var:
                out.append(env.get(read, f"$({read})"))
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_name(rest: str) -> tuple[str, bool, int]:
    """(what was read, whether it is a variable name, bytes consumed after the `$`)."""
    first = rest[0]
    if first == _OPERATOR:
        return _OPERATOR, False, 1  # "$$": an escaped operator
    if first == _OPENER:
        end = rest.find(_CLOSER, 1)
        if end != -1:
            return rest[1:end], True, end + 1
        return _OPERATOR + _OPENER, False, 1  # incomplete reference: kept as written
    return _OPERATOR + first, False, 1


def expand_all(items: list[str] | None, env: Mapping[str, str]) -> list[str] | None:
    """Expand each item; None (not set in the container spec) stays None."""
    return None if items is None else [expand(item, env) for item in items]
