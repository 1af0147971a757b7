"""Tool namespaces as harmony shows them to the model: JSON Schema rendered as TypeScript-like types.

The rules follow openai-harmony 0.0.8 exactly, quirks included (repeated nested descriptions,
unescaped string defaults, serde_json number formatting), because the model was trained on them.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_ABSENT = object()


def rust_lines(text: str) -> list[str]:
    """Rust's str::lines: split on \\n, drop the \\r of \\r\\n, no empty last line after a final \\n."""
    lines = text.split("\n")
    last = lines.pop()  # what follows the final newline: "" or an unterminated line
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines + [last] if last else lines


def _float_text(x: float) -> str:
    """serde_json's float formatting: the shortest round-trip digits, in ryu's choice of notation."""
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    shortest = Decimal(repr(abs(x))).normalize().as_tuple()  # value = digits * 10**k
    digits, k = "".join(map(str, shortest.digits)), shortest.exponent
    n = len(digits)
    point = n + k  # where the decimal point falls, counted from the first digit
    if 0 <= k and point <= 16:
        return sign + digits + "0" * k + ".0"
    if 0 < point <= 16:
        return sign + digits[:point] + "." + digits[point:]
    if -5 < point <= 0:
        return sign + "0." + "0" * -point + digits
    mantissa = digits if n == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{point - 1}"


def json_display(value: Any) -> str:
    """Compact JSON as serde_json prints it (floats and out-of-range integers differ from json.dumps)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if -2**63 <= value < 2**64 else _float_text(float(value))
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\\u007f", "\x7f")
    if isinstance(value, list):
        return "[" + ",".join(json_display(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json_display(str(k)) + ":" + json_display(v) for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def _get(schema: Any, key: str) -> Any:
    return schema.get(key, _ABSENT) if isinstance(schema, dict) else _ABSENT


def _is_enum(schema: Any) -> bool:
    enum = _get(schema, "enum")
    return isinstance(enum, list) and len(enum) > 0


def _default_comment(schema: Any, json_quote_enum_strings: bool) -> str | None:
    """The text after 'default: ' for a schema with a default, or None."""
    default = _get(schema, "default")
    if default is _ABSENT:
        return None
    if isinstance(default, str):
        if not _is_enum(schema):
            return f'"{default}"'
        return json_display(default) if json_quote_enum_strings else default
    return json_display(default)


def _nullable(schema: Any, rendered: str) -> str:
    return rendered + " | null" if _get(schema, "nullable") is True and "null" not in rendered else rendered


def _variants(variants: list, indent: str) -> str:
    """A top-level, array-item or nested oneOf: one ' | type' line per variant."""
    out = ""
    for v in variants:
        out += "\n" + indent + " | " + _nullable(v, to_typescript(v, indent + "   "))
        comments = []
        if isinstance(_get(v, "description"), str):
            comments.append(v["description"])
        default = _default_comment(v, json_quote_enum_strings=True)
        if default is not None:
            comments.append("default: " + default)
        if comments:
            out += " // " + " ".join(comments)
    return out


def to_typescript(schema: Any, indent: str = "") -> str:
    """The TypeScript-like type of a JSON Schema value."""
    one_of = _get(schema, "oneOf")
    if isinstance(one_of, list):
        return _variants(one_of, indent)
    kind = _get(schema, "type")
    if isinstance(kind, list):
        names = ["number" if t == "integer" else t for t in kind if isinstance(t, str)]
        if names:
            return " | ".join(names)
        return "any"
    if kind == "object":
        return _object(schema, indent)
    if kind == "string":
        enum = _get(schema, "enum")
        if isinstance(enum, list):
            options = [f'"{e}"' for e in enum if isinstance(e, str)]
            if options:
                return " | ".join(options)
        return "string"
    if kind in ("number", "integer"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        items = _get(schema, "items")
        return "Array<any>" if items is _ABSENT else to_typescript(items, indent) + "[]"
    return "any"


def _object(schema: dict, indent: str) -> str:
    out = ""
    if isinstance(schema.get("description"), str):
        out += indent + "// " + schema["description"] + "\n"
    out += "{\n"
    props = schema.get("properties")
    if isinstance(props, dict):
        required = schema.get("required")
        required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        for key, prop in props.items():
            out += _property(key, prop, "" if key in required else "?", indent)
    return out + indent + "}"


def _property(key: str, prop: Any, optional: str, indent: str) -> str:
    out = ""
    has_one_of = isinstance(prop, dict) and "oneOf" in prop
    if isinstance(_get(prop, "title"), str):
        out += indent + "// " + prop["title"] + "\n" + indent + "//\n"
    if not has_one_of and isinstance(_get(prop, "description"), str):
        out += indent + "// " + prop["description"] + "\n"
    examples = _get(prop, "examples")
    if isinstance(examples, list) and examples:
        out += indent + "// Examples:\n"
        out += "".join(f'{indent}// - "{e}"\n' for e in examples if isinstance(e, str))
    if isinstance(_get(prop, "oneOf"), list):
        return out + _one_of_property(key, prop, optional, indent)
    out += indent + key + optional + ": " + _nullable(prop, to_typescript(prop, indent + "    ")) + ","
    if not has_one_of:
        default = _default_comment(prop, json_quote_enum_strings=False)
        if default is not None:
            out += " // default: " + default
    return out + "\n"


def _one_of_property(key: str, prop: dict, optional: str, indent: str) -> str:
    variants = prop["oneOf"]
    description = prop.get("description") if isinstance(prop.get("description"), str) else None
    first_repeats = (description is not None and variants
                     and _get(variants[0], "description") == description)
    out, above = "", False
    if description is not None and not first_repeats:
        out += indent + "// " + description + "\n"
        above = True
    default = _default_comment(prop, json_quote_enum_strings=False)
    if default is not None:
        out += indent + "// default: " + default + "\n"
    out += indent + key + optional + ":\n"
    for i, v in enumerate(variants):
        out += indent + " | " + _nullable(v, to_typescript(v, indent + "   "))
        comments = []
        own = _get(v, "description")
        if not (i == 0 and above) and isinstance(own, str) and own != description:
            comments.append(own)
        variant_default = _default_comment(v, json_quote_enum_strings=False)
        if variant_default is not None:
            comments.append("default: " + variant_default)
        if comments:
            out += " // " + " ".join(comments)
        out += "\n"
    return out + indent + ",\n"


def tools_section(namespaces: dict[str, dict]) -> str:
    """'# Tools' and one '## name' part per namespace {name: {"description", "tools": [...]}}, sorted."""
    parts = ["# Tools"]
    for key in sorted(namespaces):
        ns = namespaces[key]
        name, tools = ns.get("name", key), ns.get("tools") or []
        lines = ["## " + name + "\n"]
        if ns.get("description") is not None:
            lines += [("// " + line) if tools else line for line in rust_lines(ns["description"])]
        if tools:
            lines.append("namespace " + name + " {\n")
            for tool in tools:
                lines += ["// " + line for line in rust_lines(tool.get("description") or "")]
                params = tool.get("parameters")
                signature = "()" if params is None else "(_: " + to_typescript(params, "") + ")"
                lines.append("type " + tool["name"] + " = " + signature + " => any;\n")
            lines.append("} // namespace " + name)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
