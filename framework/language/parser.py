"""From text to a lark parse tree, within fixed bounds.

The grammar is LALR(1): parsing is linear in the length of the text and never recurses, so hostile
input cannot make it hang or overflow the stack. Chains (`a and b and c`, `1 + 2 + 3`) parse flat
and parentheses count as a level, so the depth limit measures real nesting. The size limits are
checked before anything recursive (the type checker) sees the tree.
"""

from decimal import Decimal

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import RuleSyntaxError

# Limits. A real rule is a line or three; these leave room for that and nothing like an attack.
MAX_SOURCE_LENGTH = 2000  # characters of one expression
MAX_NODES = 300  # parse-tree nodes of one expression
MAX_DEPTH = 30  # nesting of one expression
MAX_NUMBER_DIGITS = 15  # digits before and after the decimal point of a number literal

GRAMMAR = r"""
?expression: or_expr
?or_expr: and_expr ("or" and_expr)*
?and_expr: not_expr ("and" not_expr)*
?not_expr: "not" not_expr -> not_
         | comparison
?comparison: sum
           | sum COMP_OP sum -> compare
           | sum "in" sum -> in_
           | sum "not" "in" sum -> not_in
           | sum "is" "null" -> is_null
           | sum "is" "not" "null" -> is_not_null
           | sum "is" "true" -> is_true
           | sum "is" "not" "true" -> is_not_true
           | sum "is" "false" -> is_false
           | sum "is" "not" "false" -> is_not_false
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: postfix
      | ADD_OP unary -> sign
?postfix: atom
        | postfix "." NAME -> member
        | postfix "[" expression "]" -> filter
?atom: NUMBER -> number
     | STRING -> string
     | "true" -> true
     | "false" -> false
     | "null" -> null
     | NAME -> name
     | NAME "(" [arguments] ")" -> call
     | "[" [arguments] "]" -> list
     | "(" expression ")" -> group
     | (NUMBER | NAME) NAME -> duration
arguments: expression ("," expression)*

// A cell of a decision table: a test of the column's value, e.g. "< 0.7", "in ['a', 'b']", "-".
?unary_test: sum -> test_equals
           | COMP_OP sum -> test_compare
           | "in" sum -> test_in
           | "not" "in" sum -> test_not_in
           | "is" "null" -> test_is_null
           | "is" "not" "null" -> test_is_not_null

COMP_OP: "<=" | ">=" | "!=" | "==" | "=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/"
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\f\r\n]+/
"""

_PARSER = Lark(
    GRAMMAR,
    parser="lalr",
    # The basic lexer: a keyword is a keyword everywhere, never a name where a name would fit.
    lexer="basic",
    start=["expression", "unary_test"],
    propagate_positions=True,
    maybe_placeholders=False,
)

# How terminals read in an error message.
_TERMINAL_LABELS = {
    "NUMBER": "a number",
    "STRING": "a text in quotes",
    "NAME": "a name",
    "COMP_OP": "a comparison (=, !=, <, <=, >, >=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "* or /",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "$END": "the end of the expression",
}


def _label(terminal: str) -> str:
    if terminal in _TERMINAL_LABELS:
        return _TERMINAL_LABELS[terminal]
    pattern = _PARSER.get_terminal(terminal).pattern.value if terminal in _TERMINALS else terminal
    return f"'{pattern}'"


_TERMINALS = {terminal.name for terminal in _PARSER.terminals}


def _expected(names) -> tuple[str, ...]:
    return tuple(sorted({_label(name) for name in names or ()}))


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def parse(text: str, *, start: str = "expression") -> Tree:
    """The parse tree of `text`, or RuleSyntaxError saying where and what was expected."""
    if not isinstance(text, str):
        raise RuleSyntaxError("an expression must be text")
    if len(text) > MAX_SOURCE_LENGTH:
        line, column = _position_of_offset(text, MAX_SOURCE_LENGTH)
        raise RuleSyntaxError(f"too long: at most {MAX_SOURCE_LENGTH} characters", line, column)
    if not text.strip() or not _strip_comments(text).strip():
        raise RuleSyntaxError("empty expression", 1, 1, ("an expression",))
    try:
        tree = _PARSER.parse(text, start=start)
    except UnexpectedCharacters as error:
        raise RuleSyntaxError(
            f"unexpected character {text[error.pos_in_stream]!r}",
            error.line,
            error.column,
            _expected(error.allowed),
        ) from None
    except UnexpectedEOF as error:
        line, column = _end_position(text)
        raise RuleSyntaxError("the expression ends too early", line, column, _expected(error.expected)) from None
    except UnexpectedToken as error:
        token = error.token
        if token.type == "$END":
            line, column = _end_position(text)
            raise RuleSyntaxError("the expression ends too early", line, column, _expected(error.expected)) from None
        raise RuleSyntaxError(
            f"unexpected {token.value!r}", token.line, token.column, _expected(error.expected)
        ) from None
    except (UnexpectedInput, LarkError):  # any other refusal of the parser is still a syntax error
        raise RuleSyntaxError("not a valid expression") from None
    _check_size(tree)
    _check_literals(tree)
    return tree


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.split("\n"))


def _position_of_offset(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def position(node) -> tuple[int, int]:
    """(line, column) of a tree or token; (1, 1) when lark has none."""
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line, meta.column
    return 1, 1


def _check_size(tree: Tree) -> None:
    """Bound the number of nodes and the nesting, without recursion."""
    count = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise RuleSyntaxError(f"too complex: at most {MAX_NODES} parts", *position(node))
        if depth > MAX_DEPTH:
            raise RuleSyntaxError(f"too deeply nested: at most {MAX_DEPTH} levels", *position(node))
        if isinstance(node, Tree):
            stack.extend((child, depth + 1) for child in node.children)


def _check_literals(tree: Tree) -> None:
    for token in tree.scan_values(lambda value: isinstance(value, Token) and value.type == "NUMBER"):
        whole, _, fraction = token.value.partition(".")
        if len(whole.lstrip("0")) > MAX_NUMBER_DIGITS or len(fraction) > MAX_NUMBER_DIGITS:
            raise RuleSyntaxError(f"number too long: at most {MAX_NUMBER_DIGITS} digits", *position(token))


def number_value(token: Token) -> Decimal:
    return Decimal(token.value)


def string_value(token: Token) -> str:
    """The text of a string literal; only \\\\, \\" and \\' are escapes."""
    body = token.value[1:-1]
    result = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            following = body[index + 1]  # the lexer guarantees a character follows
            if following not in "\\\"'":
                line, column = position(token)
                raise RuleSyntaxError(f"unknown escape \\{following}", line, column + index + 1, ("\\\\", '\\"', "\\'"))
            result.append(following)
            index += 2
        else:
            result.append(char)
            index += 1
    return "".join(result)
