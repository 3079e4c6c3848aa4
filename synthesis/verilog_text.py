"""The pieces of Verilog text the RTL generator (``synthesis.verilog``) is written with."""

from __future__ import annotations

import math


def counter_bits(width: int) -> int:
    """Bits of a counter over ``width`` values (at least one)."""
    return max(1, (width - 1).bit_length())


def rom_lines(name: str, style: str, words: list[int], width: int, address: str, out: str) -> list[str]:
    """A synchronous-read ROM ``name`` of ``words`` read at ``address`` into register ``out``."""
    lines = [f"    (* rom_style = \"{style}\" *) reg [{width - 1}:0] {name} [0:{len(words) - 1}];", "    initial begin"]
    mask = (1 << width) - 1
    hex_digits = max(1, math.ceil(width / 4))
    lines += [f"        {name}[{i}] = {width}'h{word & mask:0{hex_digits}x};" for i, word in enumerate(words)]
    lines.append("    end")
    lines.append(f"    always @(posedge clk) {out} <= {name}[{'0' if len(words) == 1 else address}];")
    return lines


def delayed_lines(flags: list[tuple[str, str, int]], stage: str) -> list[str]:
    """Registers ``<name><stage>`` that follow each (name, source, width) of ``flags`` by one cycle.

    A valid flag ("v", "vs") clears in reset, so no action in the pipeline outlives it.
    """
    declarations = [f"    reg {f'[{width - 1}:0] ' if width > 1 else ''}{name}{stage};" for name, _, width in flags]
    updates = " ".join(f"{name}{stage} <= {source}{' && !rst' if name in ('v', 'vs') and 'rst' not in source else ''};"
                       for name, source, _ in flags)  # fmt: skip
    return declarations + [f"    always @(posedge clk) begin {updates} end"]


def stage_flags(stage: str, nfw: int) -> list[tuple[str, str, int]]:
    """The (name, source, width) of the flags that follow one action's data from register stage ``stage`` to the next."""
    return [("v", f"v{stage}", 1), ("first", f"first{stage}", 1), ("last", f"last{stage}", 1), ("nf", f"nf{stage}", nfw)]


def signed_sum(terms: list[tuple[str, int]], width: int) -> str:
    """The sum of (expression, +1 or -1) terms as a shallowest-first tree of additions and subtractions.

    Synthesis keeps the parentheses, so the adders in series are as few as the terms allow:
    the two shallowest partial sums are combined first, a negative one is subtracted (one
    adder, where negating it first would take two), and only a sum left negative at the
    end is negated.
    """
    items = [(0, expression, sign) for expression, sign in terms]
    while len(items) > 1:
        items.sort(key=lambda item: item[0])
        (depth_a, a, sign_a), (depth_b, b, sign_b) = items[0], items[1]
        if sign_a == sign_b:
            combined = (f"({a} + {b})", sign_a)
        else:
            combined = (f"({a} - {b})", 1) if sign_a > 0 else (f"({b} - {a})", 1)
        items = [(max(depth_a, depth_b) + 1, *combined)] + items[2:]
    _, expression, sign = items[0]
    return expression if sign > 0 else f"({width}'sd0 - {expression})"


def balanced_sum(terms: list[str]) -> str:
    """``terms`` added as a balanced tree: synthesis keeps the parentheses, so the depth is log2 of their number."""
    if len(terms) == 1:
        return terms[0]
    middle = (len(terms) + 1) // 2
    return f"({balanced_sum(terms[:middle])} + {balanced_sum(terms[middle:])})"
