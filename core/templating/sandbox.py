"""The sandbox a tenant's template runs in.

Jinja2's SandboxedEnvironment keeps templates away from Python internals; this one also
keeps them from exhausting the process. Every way a template can make a value or spend
time passes through a guard (core.templating.guards) that checks the render's Budget:

- calls (macros, methods, `range`), `+ * ** %`, and printing go through the sandbox's
  own hooks (`call`, `call_binop`, `finalize`);
- loops, `~`, slices and list, tuple and dict literals compile to plain Python, so the
  parsed template is rewritten to call a guard there instead (`_Guard`), as an attribute
  of the environment, which no template variable can shadow;
- filters, tests, globals and attributes are allow-lists: nothing there can grow a value
  without being sized, and nothing can change one (the sandbox is immutable).
"""

from __future__ import annotations

from types import BuiltinMethodType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.filters import _GroupTuple
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import SandboxedEnvironment, is_internal_attribute
from jinja2.visitor import NodeTransformer

from core.templating import guards
from core.templating.filters import FILTERS, TESTS
from core.templating.limits import LimitExceeded, active

TEMPLATE_NAME = "<template>"

_SEQUENCE = frozenset({"count", "index"})
_ATTRIBUTES: tuple[tuple[type, frozenset[str]], ...] = (
    (_GroupTuple, frozenset({"grouper", "list"})),  # what groupby yields; also a tuple
    (
        LoopContext,
        frozenset(
            "index index0 revindex revindex0 first last length depth depth0 previtem "
            "nextitem cycle changed".split()
        ),
    ),
    (
        str,
        frozenset(
            "capitalize casefold count endswith find index isalnum isalpha isdecimal "
            "isdigit islower isnumeric isspace istitle isupper lower lstrip partition "
            "removeprefix removesuffix rfind rindex rpartition rsplit rstrip split "
            "splitlines startswith strip swapcase title upper".split()
        ),
    ),
    (list, _SEQUENCE),
    (tuple, _SEQUENCE),
    (range, _SEQUENCE | {"start", "stop", "step"}),
    (dict, frozenset({"get", "items", "keys", "values"})),
)


def _attributes_of(obj: Any) -> frozenset[str]:
    for kind, names in _ATTRIBUTES:
        if isinstance(obj, kind):
            return names
    return frozenset()


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset(guards.BINOP_CHECKS)
    # What the rewritten template calls, as `environment.guard_*`.
    guard_loop = staticmethod(guards.loop)
    guard_concat = staticmethod(guards.concat)
    guard_slice = staticmethod(guards.slice_)
    guard_literal = staticmethod(guards.literal)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return super().is_safe_attribute(obj, attr, value) and attr in _attributes_of(obj)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        if attribute.startswith("_") or is_internal_attribute(obj, attribute):
            return super().unsafe_undefined(obj, attribute)
        return self.undefined(
            f"{attribute!r} of a {type(obj).__name__!r} value is not available in templates",
            name=attribute,
            obj=obj,
            exc=LimitExceeded,
        )

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is not on the allow-list, so there is nothing to wrap

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if any(obj is guard for guard in _GUARDS):
            return context.call(obj, *args, **kwargs)  # each guard keeps its own account
        budget = active()
        budget.call()
        if isinstance(obj, BuiltinMethodType):
            guards.check_arguments([*args, *kwargs.values()])
        return budget.admit(super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = active()
        budget.tick()
        guards.BINOP_CHECKS[operator](budget, left, right)
        return budget.admit(super().call_binop(context, operator, left, right))


_GUARDS = (guards.loop, guards.concat, guards.slice_, guards.literal)


_OTHER_TEMPLATES: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from",
}


def _guard_call(guard: str, args: list[Any], where: nodes.Node) -> nodes.Call:
    function = nodes.EnvironmentAttribute(f"guard_{guard}", lineno=where.lineno)
    return nodes.Call(function, args, [], None, None, lineno=where.lineno)


class _Guard(NodeTransformer):
    """Rewrites the parsed template so that the operations Jinja compiles to plain Python
    call a guard, and refuses what the sandbox does not offer."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:  # loop(...) would iterate without the loop guard
            raise TemplateSyntaxError("recursive loops are not available", node.lineno)
        self.generic_visit(node)
        node.iter = _guard_call("loop", [node.iter], node)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        # Plain text becomes a constant Jinja cannot join at compile time, so it passes
        # through `finalize` and is charged like any other output.
        self.generic_visit(node)
        node.nodes = [
            nodes.Const(child.data, lineno=child.lineno)
            if isinstance(child, nodes.TemplateData)
            else child
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("concat", node.nodes, node)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        bounds = (node.arg.start, node.arg.stop, node.arg.step)
        args = [node.node, *(nodes.Const(None) if b is None else b for b in bounds)]
        return _guard_call("slice", args, node)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("literal", [node], node)

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("literal", [node], node) if node.ctx == "load" else node

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        if node.name not in FILTERS:
            raise TemplateSyntaxError(f"filter {node.name!r} is not available", node.lineno)
        return self.generic_visit(node)

    def visit_Test(self, node: nodes.Test) -> nodes.Node:
        if node.name not in TESTS:
            raise TemplateSyntaxError(f"test {node.name!r} is not available", node.lineno)
        return self.generic_visit(node)

    def _unavailable(self, node: nodes.Node) -> nodes.Node:
        # There are no other templates to reach, and no loader to reach them with.
        tag = _OTHER_TEMPLATES[type(node)]
        raise TemplateSyntaxError(f"{{% {tag} %}} is not available", node.lineno)

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _unavailable


def _build_environment() -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, finalize=guards.finalize)
    env.filters = dict(FILTERS)
    env.tests = dict(TESTS)
    # Only what is bounded: no lipsum, namespace (a mutable object), cycler, joiner, dict.
    env.globals.clear()
    env.globals["range"] = guards.safe_range
    return env


_env = _build_environment()


def compile_template(source: str) -> Template:
    """Parse, rewrite and compile; raises TemplateSyntaxError (or RecursionError when
    nested too deeply). Jinja folds constant filters while compiling: run it in a Budget."""
    tree = _env.parse(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
    return _env.from_string(_Guard().visit(tree))
