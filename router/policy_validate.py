"""Validation of a policy file, with every problem pointed at its line and column.

The YAML is composed with PyYAML (`yaml.compose`) to keep the node marks, validated with the pydantic
models of `router.policy_schema`, and each pydantic error location (`('rules', 2, 'when', 'foo')`) is
walked down the node tree to the key or value it is about. Whole-file checks follow: threshold names,
score ranges, deny messages, unique rule names, and rules that can never fire because an earlier rule
already matches everything they match.

Each problem is one line: `FILE:LINE:COL: what is wrong; what to do`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from router.policy_schema import (
    ACTIONS,
    CONTINGENCIES,
    AppSection,
    Contingency,
    DefaultAction,
    FindingsTest,
    PolicyFile,
    Range,
    Rule,
    When,
)

Loc = tuple[str | int, ...]
UNIT_SCORES = ("complexity", "local_success", "privacy")


def loc_text(loc: Sequence[str | int]) -> str:
    """('rules', 2, 'when') -> 'rules[2].when'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "the top level"


class Locator:
    """Finds the node a location points at and renders `file:line:col`."""

    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root

    def node(self, loc: Sequence[str | int], *, key: bool = False) -> yaml.Node | None:
        """The value node at `loc` (or its key node when `key`); the deepest existing node on the way
        when part of `loc` is not in the file (a missing key, a pydantic union tag)."""
        node = self.root
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        if last and key:
                            return k
                        node = v
                        break
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                node = node.value[part]
        return node

    def where(self, loc: Sequence[str | int], *, key: bool = False) -> str:
        node = self.node(loc, key=key)
        if node is None:
            return f"{self.source}:1:1"
        mark = node.start_mark
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def line(self, loc: Sequence[str | int]) -> int:
        node = self.node(loc)
        return node.start_mark.line + 1 if node is not None else 1

    def problem(self, loc: Sequence[str | int], message: str, *, key: bool = False) -> str:
        return f"{self.where(loc, key=key)}: {message}"


def duplicate_keys(root: yaml.Node | None, locator: Locator) -> list[str]:
    """PyYAML keeps the last of two equal keys silently; report them instead."""
    problems: list[str] = []

    def walk(node: yaml.Node | None) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        first = seen[k.value].start_mark.line + 1
                        m = k.start_mark
                        problems.append(
                            f"{locator.source}:{m.line + 1}:{m.column + 1}: duplicate key {k.value!r} "
                            f"(first on line {first}); YAML would keep only this one: remove or merge one"
                        )
                    else:
                        seen[k.value] = k
                walk(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    walk(root)
    return problems


# --- pydantic errors -> messages ---------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def allowed_keys(loc: Sequence[str | int]) -> list[str] | None:
    """The keys the schema allows in the mapping at `loc`, or None if it is not a fixed-key mapping."""
    tp: Any = PolicyFile
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            if not isinstance(part, str) or part not in fields:
                return None
            tp = fields[part].annotation
        elif typing.get_origin(tp) is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_keys(tp)
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quote_hint(kind: str, value: Any) -> str:
    if isinstance(value, str) and kind in ("int_type", "float_type", "bool_type"):
        return " (write it without quotes)"
    return ""


def pydantic_problems(error: ValidationError, locator: Locator) -> list[str]:
    problems: list[str] = []
    for err in error.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ").replace("Input should be", "must be", 1)
        if kind == "extra_forbidden":
            parent, name = loc[:-1], str(loc[-1])
            keys = allowed_keys(parent) or []
            hint = difflib.get_close_matches(name, keys, n=1)
            fix = f"did you mean {hint[0]!r}? " if hint else ""
            where = f"in {loc_text(parent)}" if parent else "at the top level"
            problems.append(
                locator.problem(
                    loc, f"unknown key {name!r} {where}; {fix}allowed keys: {', '.join(keys)}", key=True
                )
            )
        elif kind == "missing":
            parent, name = loc[:-1], str(loc[-1])
            problems.append(
                locator.problem(parent, f"{loc_text(parent)} is missing the required key {name!r}")
            )
        elif kind == "literal_error":
            problems.append(locator.problem(loc, f"{loc_text(loc)}: {msg}, not {_short(err.get('input'))}"))
        elif kind == "model_type" or kind.endswith("_type") or kind.endswith("_parsing"):
            value = err.get("input")
            problems.append(
                locator.problem(
                    loc,
                    f"{loc_text(loc)}: {msg}, got {type(value).__name__} {_short(value)}"
                    + _quote_hint(kind, value),
                )
            )
        else:
            problems.append(locator.problem(loc, f"{loc_text(loc)}: {msg}"))
    return problems


# --- whole-file checks --------------------------------------------------------------------------------


def _rule_lists(policy: PolicyFile) -> Iterator[tuple[Loc, list[Rule], dict[str, float]]]:
    """(location of the list, its rules, the thresholds its values resolve against)."""
    yield ("rules",), policy.rules, dict(policy.thresholds)
    for app, section in policy.apps.items():
        yield ("apps", app, "rules"), section.rules, {**policy.thresholds, **section.thresholds}


def _contingencies(policy: PolicyFile) -> Iterator[tuple[Loc, Contingency | DefaultAction, dict[str, float]]]:
    yield ("default",), policy.default, dict(policy.thresholds)
    for name in CONTINGENCIES:
        yield (name,), getattr(policy, name), dict(policy.thresholds)
    for app, section in policy.apps.items():
        merged = {**policy.thresholds, **section.thresholds}
        for name in ("default", *CONTINGENCIES):
            value = getattr(section, name)
            if value is not None:
                yield ("apps", app, name), value, merged


def _check_value(
    loc: Loc, value: float | str, thresholds: dict[str, float], unit: bool, locator: Locator
) -> list[str]:
    if isinstance(value, str):
        if value not in thresholds:
            known = ", ".join(sorted(thresholds)) or "none"
            hint = difflib.get_close_matches(value, list(thresholds), n=1)
            fix = f"did you mean {hint[0]!r}? " if hint else ""
            return [
                locator.problem(
                    loc,
                    f"unknown threshold {value!r}; {fix}defined thresholds: {known} "
                    "(add it under `thresholds:` or write a number)",
                )
            ]
        number = thresholds[value]
        if unit and not 0.0 <= number <= 1.0:
            return [locator.problem(loc, f"threshold {value!r} is {number:g}, but this score lies in [0, 1]")]
        return []
    if unit and not 0.0 <= value <= 1.0:
        return [locator.problem(loc, f"{loc_text(loc)} is {value:g}, but this score lies in [0, 1]")]
    return []


def _check_when(loc: Loc, when: When, thresholds: dict[str, float], locator: Locator) -> list[str]:
    problems: list[str] = []
    for name in ("complexity", "local_success", "privacy", "prompt_tokens", "local_queue_depth"):
        rng: Range | None = getattr(when, name)
        if rng is None:
            continue
        for op, value in rng.bounds():
            problems += _check_value((*loc, name, op), value, thresholds, name in UNIT_SCORES, locator)
    findings: FindingsTest | None = when.findings
    if findings is not None:
        problems += _check_value(
            (*loc, "findings", "min_confidence"), findings.min_confidence, thresholds, True, locator
        )
    return problems


def _check_action(loc: Loc, action: str, message: str, locator: Locator, what: str) -> list[str]:
    if action == "deny" and not message.strip():
        return [
            locator.problem(
                loc, f"{what} denies but gives no message: add `message: ...` telling the user why"
            )
        ]
    if action != "deny" and message:
        return [
            locator.problem(
                (*loc, "message"), f"`message` is only used with `action: deny` ({what} is {action})"
            )
        ]
    return []


def _le(x: float | str, y: float | str) -> bool | None:
    """x <= y, when that is known without the thresholds (which apps may override): two numbers, or the
    same threshold name. None when it depends on threshold values."""
    if isinstance(x, float) and isinstance(y, float):
        return x <= y
    return True if x == y else None


def _range_implies(b: Range, a: Range) -> bool:
    """Whatever satisfies `b` satisfies `a` (decidable cases only; unknown means no)."""
    for op, bound in a.bounds():
        lower = op in ("gte", "gt")
        ok = False
        for op_b, bound_b in b.bounds():
            if (op_b in ("gte", "gt")) != lower:
                continue
            # lower bounds: b's must be at least a's; upper bounds: b's at most a's
            le = _le(bound, bound_b) if lower else _le(bound_b, bound)
            if not le:
                continue
            strict_a, strict_b = op in ("gt", "lt"), op_b in ("gt", "lt")
            same = _le(bound_b, bound) if lower else _le(bound, bound_b)
            if strict_a and not strict_b and same:  # a: x > v, b: x >= v -> b allows v itself
                continue
            ok = True
            break
        if not ok:
            return False
    return True


def _findings_implies(b: FindingsTest, a: FindingsTest) -> bool:
    same_set = (
        b.categories is not None and a.categories is not None and set(b.categories) == set(a.categories)
    )
    same_set = same_set or (a.categories is None and b.categories is None)
    if a.max_count is not None:
        # an upper bound on a's count: only comparable when both count the same findings
        return (
            same_set
            and a.min_confidence == b.min_confidence
            and b.max_count is not None
            and b.max_count <= a.max_count
            and a.min_count <= b.min_count
        )
    # b counts a subset of a's findings, so a's count >= b's count >= b.min_count >= a.min_count
    subset = a.categories is None or (b.categories is not None and set(b.categories) <= set(a.categories))
    return subset and bool(_le(a.min_confidence, b.min_confidence)) and a.min_count <= b.min_count


def _implies(name: str, b: Any, a: Any) -> bool:
    """Condition `name` of a later rule (`b`) implies the same condition of an earlier rule (`a`)."""
    if isinstance(a, Range) and isinstance(b, Range):
        return _range_implies(b, a)
    if isinstance(a, FindingsTest) and isinstance(b, FindingsTest):
        return _findings_implies(b, a)
    if name == "app":
        return set(b) <= set(a)
    if name == "metadata":
        return all(k in b and set(b[k]) <= set(v) for k, v in a.items())
    return bool(a == b)


def _shadows(earlier: Rule, later: Rule) -> bool:
    """True when every request that matches `later` matches `earlier`, which comes first: every
    condition of `earlier` is implied by the same condition of `later` (identical, narrower range,
    fewer apps ...)."""
    for name in When.model_fields:
        a, b = getattr(earlier.when, name), getattr(later.when, name)
        if a is None:
            continue
        if b is None or not _implies(name, b, a):
            return False
    return True


def semantic_problems(policy: PolicyFile, locator: Locator) -> list[str]:
    problems: list[str] = []
    names: dict[str, Loc] = {}
    for list_loc, rules, thresholds in _rule_lists(policy):
        for i, rule in enumerate(rules):
            loc = (*list_loc, i)
            problems += _check_when((*loc, "when"), rule.when, thresholds, locator)
            problems += _check_action(loc, rule.action, rule.message, locator, f"rule {rule.name!r}")
            if rule.fallback is not None and rule.action == "deny":
                problems.append(locator.problem((*loc, "fallback"), "a deny rule has no fallback: remove it"))
            if rule.name in names:
                first = locator.line(names[rule.name])
                problems.append(
                    locator.problem(
                        (*loc, "name"),
                        f"rule name {rule.name!r} is already used on line {first}; rule names are recorded "
                        "with each decision and must be unique",
                    )
                )
            else:
                names[rule.name] = loc
            if list_loc[0] == "apps" and rule.when.app is not None and list_loc[1] not in rule.when.app:
                problems.append(
                    locator.problem(
                        (*loc, "when", "app"),
                        f"rule {rule.name!r} can never fire: it sits in the section of app {list_loc[1]!r} "
                        "but asks for another app",
                    )
                )
            for j in range(i):
                earlier = rules[j]
                if _shadows(earlier, rule):
                    line = locator.line((*list_loc, j))
                    if not earlier.when.given():
                        why = (
                            f"rule {earlier.name!r} (line {line}) has no conditions and matches every request"
                        )
                    else:
                        why = (
                            f"rule {earlier.name!r} (line {line}) already matches every request this one "
                            "matches"
                        )
                    problems.append(
                        locator.problem(
                            loc,
                            f"rule {rule.name!r} can never fire: {why}; move it above {earlier.name!r}, "
                            "narrow the earlier rule, or remove one",
                        )
                    )
                    break
    for loc, item, thresholds in _contingencies(policy):
        what = loc_text(loc)
        problems += _check_action(loc, item.action, item.message, locator, what)
        if isinstance(item, Contingency):
            problems += _check_when((*loc, "when"), item.when, thresholds, locator)
            if loc[-1] in ("on_cloud_unavailable", "on_budget_exhausted") and item.action not in (
                "local",
                "deny",
            ):
                problems.append(
                    locator.problem(
                        (*loc, "action") if isinstance(locator.node(loc), yaml.MappingNode) else loc,
                        f"{what} can only be local or deny (the cloud is what is unavailable), "
                        f"not {item.action}",
                    )
                )
    return problems


def _first_alias(text: str) -> yaml.Mark | None:
    """Where the first alias is, from the event stream (linear: nothing is expanded)."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark
    return None


def validate_text(text: str, source: str) -> tuple[PolicyFile | None, list[str]]:
    """Parse and validate policy YAML. Returns the model (None when invalid) and the problems."""
    try:
        alias = _first_alias(text)
        if alias is not None:  # an alias bomb expands exponentially when walked: refuse every alias
            return None, [
                f"{source}:{alias.line + 1}:{alias.column + 1}: YAML aliases (*name) are not allowed in a "
                "policy file; write the value out"
            ]
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        problem = e.problem or e.context or "invalid YAML"
        return None, [f"{source}:{pos}: invalid YAML: {problem}; fix the syntax there"]
    except yaml.YAMLError as e:
        return None, [f"{source}:1:1: invalid YAML: {e}"]
    locator = Locator(source, root)
    if data is None:
        return None, [f"{source}:1:1: the policy file is empty; start from policies/default.yaml"]
    if not isinstance(data, dict):
        return None, [
            locator.problem((), "a policy file is a mapping of settings (`rules:`, `default:` ...)")
        ]
    problems = duplicate_keys(root, locator)
    try:
        model = PolicyFile.model_validate(data)
    except ValidationError as e:
        return None, sort_problems(problems + pydantic_problems(e, locator), source)
    problems += semantic_problems(model, locator)
    return (None if problems else model), sort_problems(problems, source)


def sort_problems(problems: list[str], source: str) -> list[str]:
    """Order problems by line and column (each starts with `source:line:col:`)."""

    def key(problem: str) -> tuple[int, int]:
        parts = problem[len(source) + 1 :].split(":", 2)
        try:
            return int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            return 0, 0

    return sorted(problems, key=key)


__all__ = ["ACTIONS", "AppSection", "Locator", "allowed_keys", "loc_text", "validate_text"]
