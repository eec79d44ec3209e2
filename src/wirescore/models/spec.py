"""What every model builder shares: the error that points into a profile's `model:`
mapping, and the check of params against a model's signature."""
from __future__ import annotations

import inspect
from typing import Any, Mapping


class ModelSpecError(ValueError):
    """A profile's `model:` mapping cannot be built. where: the keys under `model` at
    fault (("name",), ("params", "bogus"), ...), so the profile loader names the line."""

    def __init__(self, where: tuple, message: str):
        super().__init__(message)
        self.where = tuple(where)


def check_params(target: Any, params: Mapping, what: str, given=("features",)) -> None:
    """Refuse a parameter that `target` (a class or function) does not take, naming the
    ones it does, and a required one that params lacks. given: parameters the builder
    supplies itself (not the profile's to set). A target that takes **kwargs accepts
    any name."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):           # a builtin without a signature: River's
        return                                # own constructors will say
    named = [p for p in signature.parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in given]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    accepted = [p.name for p in named]
    for key in params:
        if key not in accepted and not takes_any:
            listed = ", ".join(accepted) or "none"
            raise ModelSpecError(("params", key),
                                 f"unknown parameter of {what} (parameters: {listed})")
    for p in named:
        if p.default is p.empty and p.name not in params:
            raise ModelSpecError(("params",), f"{what} needs the parameter {p.name!r} "
                                              f"(parameters: {', '.join(accepted)})")
