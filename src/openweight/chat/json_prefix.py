"""Is this text the beginning of a JSON value? Answered a character at a time, for JSON-constrained decoding.

`json.loads` only judges whole documents; constrained decoding must reject a token the moment it
would make the text impossible to complete, so the grammar is walked here by hand (RFC 8259).
"""

from __future__ import annotations

WHITESPACE = " \t\n\r"
NUMBER_ENDS = {"zero", "int", "frac", "exp"}  # number states that may end the number
LITERALS = {"t": "true", "f": "false", "n": "null"}


class JSONPrefix:
    """feed(text) -> False (state unchanged) if text cannot continue a JSON value; `complete` once one ended.
    With object_only, the value must be an object (as OpenAI's json_object mode promises)."""

    def __init__(self, object_only: bool = False):
        self.object_only = object_only
        self.stack: list[str] = []  # open containers: '{' or '['
        self.mode = "value"  # value, key_or_end, key, colon, after, string, number, literal, value_or_end, done
        self.key = False  # the string being read is an object key
        self.escape = 0  # 0, or 1 after a backslash, or 2..5 while reading \uXXXX digits
        self.number = ""  # state of the number being read
        self.literal = ""  # the rest of true/false/null still to come

    def copy(self) -> JSONPrefix:
        other = JSONPrefix.__new__(JSONPrefix)
        other.__dict__.update(self.__dict__)
        other.stack = list(self.stack)
        return other

    @property
    def complete(self) -> bool:
        if self.stack:
            return False
        return self.mode == "done" or (self.mode == "number" and self.number in NUMBER_ENDS)

    def feed(self, text: str) -> bool:
        trial = self.copy()
        for ch in text:
            if not trial._step(ch):
                return False
        self.__dict__.update(trial.__dict__)
        return True

    # ---- the grammar, one character at a time ----------------------------------------------
    def _step(self, ch: str) -> bool:
        mode = self.mode
        if mode == "string":
            return self._string(ch)
        if mode == "number":
            if self._number(ch):
                return True
            if self.number not in NUMBER_ENDS:
                return False
            self._end_value()
            return self._step(ch)
        if mode == "literal":
            if ch != self.literal[0]:
                return False
            self.literal = self.literal[1:]
            if not self.literal:
                self._end_value()
            return True
        if ch in WHITESPACE:
            return True
        if mode in ("value", "value_or_end"):
            if self.object_only and not self.stack and ch != "{":
                return False
            if mode == "value_or_end" and ch == "]":
                return self._close("[")
            return self._begin_value(ch)
        if mode in ("key_or_end", "key"):
            if mode == "key_or_end" and ch == "}":
                return self._close("{")
            if ch == '"':
                self.mode, self.key = "string", True
                return True
            return False
        if mode == "colon":
            if ch == ":":
                self.mode = "value"
                return True
            return False
        if mode == "after":
            top = self.stack[-1]
            if ch == ",":
                self.mode = "key" if top == "{" else "value"
                return True
            return self._close(top) if ch == ("}" if top == "{" else "]") else False
        return False  # done: only whitespace may follow

    def _begin_value(self, ch: str) -> bool:
        if ch == "{":
            self.stack.append("{")
            self.mode = "key_or_end"
        elif ch == "[":
            self.stack.append("[")
            self.mode = "value_or_end"
        elif ch == '"':
            self.mode, self.key = "string", False
        elif ch == "-" or ch.isdigit() and ch.isascii():
            self.mode, self.number = "number", "sign" if ch == "-" else "zero" if ch == "0" else "int"
        elif ch in LITERALS:
            self.mode, self.literal = "literal", LITERALS[ch][1:]
        else:
            return False
        return True

    def _string(self, ch: str) -> bool:
        if self.escape == 1:
            if ch == "u":
                self.escape = 2
                return True
            self.escape = 0
            return ch in '"\\/bfnrt'
        if self.escape >= 2:
            if ch not in "0123456789abcdefABCDEF":
                return False
            self.escape = 0 if self.escape == 5 else self.escape + 1
            return True
        if ch == "\\":
            self.escape = 1
        elif ch == '"':
            if self.key:
                self.mode, self.key = "colon", False
            else:
                self._end_value()
        elif ord(ch) < 0x20:
            return False  # control characters must be escaped
        return True

    def _number(self, ch: str) -> bool:
        """Advance the number on ch; False when ch is not part of it (the number may have ended)."""
        digit = ch.isdigit() and ch.isascii()
        state = self.number
        if state == "sign":
            nxt = "zero" if ch == "0" else "int" if digit else None
        elif state in ("zero", "int"):
            nxt = "int" if digit and state == "int" else "dot" if ch == "." else "e" if ch in "eE" else None
        elif state in ("dot", "frac"):
            nxt = "frac" if digit else "e" if ch in "eE" and state == "frac" else None
        elif state in ("e", "esign"):
            nxt = "exp" if digit else "esign" if ch in "+-" and state == "e" else None
        else:  # exp
            nxt = "exp" if digit else None
        if nxt is None:
            return False
        self.number = nxt
        return True

    def _close(self, bracket: str) -> bool:
        if not self.stack or self.stack[-1] != bracket:
            return False
        self.stack.pop()
        self._end_value()
        return True

    def _end_value(self) -> None:
        self.mode = "after" if self.stack else "done"
