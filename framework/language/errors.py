"""The only two exceptions the rule language raises on bad input.

Both carry a position (1-based line and column) so that admin can point at the mistake, and both
are `ValueError`s: whoever catches them treats them as "this rule is invalid", never as a crash.
"""


class RuleError(ValueError):
    """A rule that cannot be accepted, with where and why."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        self.message = message
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"Line {self.line}, column {self.column}: {self.message}"


class RuleSyntaxError(RuleError):
    """The text does not follow the grammar (or breaks a size limit); `expected` lists what would."""

    def __init__(self, message: str, line: int = 1, column: int = 1, expected: tuple[str, ...] = ()):
        self.expected = tuple(expected)
        super().__init__(message, line, column)

    def describe(self) -> str:
        text = super().describe()
        if self.expected:
            text += "; expected " + ", ".join(self.expected)
        return text


class RuleTypeError(RuleError):
    """The text parses but means nothing: an unknown name, a date compared with a number, ..."""
