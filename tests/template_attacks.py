"""Templates an owner could write to exhaust the API or the shared worker, one per way a
template can grow a value, its output, or its running time; each with what the refusal
says, so a test knows the right guard stopped it. Before the sandbox bounded renders, each
of these allocated a gigabyte or more, or ran for minutes (or both)."""

from __future__ import annotations

# A render that stays within every size limit but would run for many seconds: it is the
# time budget that stops it. Nothing is printed inside the loops.
TIME_BURNER = (
    "{% set big = (range(1000) | list) * 49 %}"
    "{% for i in range(99) %}{% for j in range(100) %}"
    "{% if big | max < 0 or big | sum < 0 %}{% endif %}"
    "{% endfor %}{% endfor %}done"
)
# Doubles a string at each of 40 calls: a terabyte by the end.
DOUBLING_MACRO = (
    '{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s | length }}{% endmacro %}{{ d("x", 40) }}'
)
VALUE_LIMIT = "may hold at most"

ATTACKS: dict[str, tuple[str, str]] = {
    "lipsum": ("{{ lipsum(1000000) }}", "'lipsum' is undefined"),
    "center": ("{{ client.name | center(1000000000) }}", "filter 'center' is not available"),
    "indent": (
        '{{ ("a\\n" * 1000) | indent(1000000, true) }}',
        "filter 'indent' is not available",
    ),
    "format filter": (
        '{{ "%999999999s" | format(client.name) }}',
        "filter 'format' is not available",
    ),
    "percent width": ('{{ "%999999999s" % client.name }}', "format widths above 100"),
    "percent of many values": (
        '{% set f = "%s" * 30000 %}{{ f % ((client.name * 3000,) * 30000) }}',
        "repetition too large",
    ),
    "percent with a key Python reads differently": (
        '{% set v = {"a(b)c": "x" * 90000} %}{{ ("%(a(b)c)s" * 5000) % v }}',
        "long mapping keys",
    ),
    "ljust": ("{{ client.name.ljust(999999999) }}", "'ljust' of a 'str' value is not available"),
    "str.format": (
        '{{ "{:>999999999}".format(client.name) }}',
        "'format' of a 'str' value is not available",
    ),
    "replace filter chain": (
        '{{ ("x" * 1000) | replace("x", "x" * 1000) | replace("x", "x" * 1000) | length }}',
        VALUE_LIMIT,
    ),
    "replace method chain": (
        '{{ ("x" * 1000).replace("x", "x" * 1000).replace("x", "x" * 1000) | length }}',
        "'replace' of a 'str' value is not available",
    ),
    "concat doubling in a recursive macro": (DOUBLING_MACRO, VALUE_LIMIT),
    "list doubling in a recursive macro": (
        "{% macro d(l, n) %}{{ d(l + l, n - 1) if n else l | length }}{% endmacro %}"
        '{{ d(["x"], 40) }}',
        VALUE_LIMIT,
    ),
    "namespace doubling in a loop": (
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}'
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "'namespace' is undefined",
    ),
    "list.extend growth": (
        "{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}"
        "{{ l | length }}",
        "'extend' of a 'list' value is not available",
    ),
    "nested joins": (
        '{% set a = range(1000) | join("xxxxxxxxxx") %}{% set b = range(1000) | join(a) %}'
        "{{ range(1000) | join(b) | length }}",
        VALUE_LIMIT,
    ),
    "wordwrap separator": (
        '{{ ("a " * 50000) | wordwrap(1, wrapstring="x" * 50000) | length }}',
        VALUE_LIMIT,
    ),
    "truncate shorter than its ellipsis": ("{{ client.name | truncate(1) }}", "expected length"),
    "batch padding": (
        '{{ [1] | batch(1000000000, "x") | list | length }}',
        "filter 'batch' is not available",
    ),
    "slice count": (
        "{{ [1] | slice(100000000) | list | length }}",
        "filter 'slice' is not available",
    ),
    "round digits": ('{{ 1 | round(1000000000, "ceil") }}', "round() takes at most"),
    "squaring in a recursive macro": (
        "{% macro sq(n, k) %}{{ sq(n * n, k - 1) if k else n | string | length }}{% endmacro %}"
        "{{ sq(3, 40) }}",
        "bits",
    ),
    "power tower": ("{{ (((10 ** 100) ** 100) ** 100) ** 100 }}", "bits"),
    "nested list repetition printed": (
        "{% set a = [client.name] * 1000 %}{% set b = [a] * 1000 %}{% set c = [b] * 1000 %}{{ c }}",
        "repetition too large",
    ),
    "output collected in a macro": (
        '{% macro m() %}{% for i in range(99) %}{% for j in range(100) %}{{ "x" * 99999 }}'
        "{% endfor %}{% endfor %}{% endmacro %}{{ m() | length }}",
        "characters in all",
    ),
    "text repeated in a set block": (
        "{% set s %}{% for i in range(99) %}{% for j in range(100) %}"
        + "x" * 40_000
        + "{% endfor %}{% endfor %}{% endset %}{{ s | length }}",
        "characters in all",
    ),
    "macro calling itself twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "calls in all",
    ),
    "time burner": (TIME_BURNER, "seconds"),
    # The loop guard used to be a template global, which a template variable could replace.
    "loop guard replaced by a macro": (
        "{% macro g(x) %}{{ x }}{% endmacro %}{% set __loop_guard__ = g %}"
        '{% set s = "x" * 20000 %}{% for i in s %}{% for j in s %}{% endfor %}{% endfor %}',
        "loop at most",
    ),
}
