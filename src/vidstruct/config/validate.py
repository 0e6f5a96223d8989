"""Turn composed config trees into typed objects, with one-line errors.

Pydantic does the checking; this module translates its errors into a
:class:`~vidstruct.errors.ConfigError` that names the dotted key, the file
that set it, what was expected and the close matches of an unknown key.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ValidationError
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.fields import FieldInfo

from vidstruct.config.loader import ComposedConfig
from vidstruct.errors import ConfigError
from vidstruct.registry import did_you_mean

M = TypeVar("M", bound=BaseModel)


def _type_name(annotation: Any) -> str:
    if annotation is None:
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def section_fields(cls: Any) -> dict[str, FieldInfo] | None:
    """The fields of a schema section: a pydantic model, or a dataclass (pydantic's or the standard library's)
    that pydantic validates (the engine's and the localization chain's settings)."""
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return dict(cls.model_fields)
    if isinstance(cls, type) and is_pydantic_dataclass(cls):
        return dict(cls.__pydantic_fields__)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):  # a stdlib dataclass validated by pydantic
        hints = typing.get_type_hints(cls)
        return {f.name: FieldInfo(annotation=hints[f.name]) for f in dataclasses.fields(cls)}
    return None


def _model_at(schema: Any, loc: tuple[Any, ...]) -> Any:
    """The section class (pydantic model or dataclass) found by walking ``loc`` from ``schema``."""
    current: Any = schema
    for part in loc:
        fields = section_fields(current)
        if fields is None or str(part) not in fields:
            return None
        current = fields[str(part)].annotation
        for arg in typing.get_args(current) or ():
            if section_fields(arg) is not None:
                current = arg
                break
    return current if section_fields(current) is not None else None


def _expected(schema: Any, loc: tuple[Any, ...]) -> str:
    parent = _model_at(schema, loc[:-1]) if loc else None
    if parent is not None:
        field = section_fields(parent).get(str(loc[-1]))  # type: ignore[union-attr]
        if field is not None:
            return _type_name(field.annotation)
    return "a valid value"


def describe_validation_error(
    exc: ValidationError, schema: type[BaseModel] | None, sources: ComposedConfig | None, prefix: str = ""
) -> str:
    """One line for the first error of ``exc`` (and a count of the others)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not isinstance(p, int) or True)
    dotted = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc)
    source = sources.source_of(dotted) if sources is not None else "config"
    kind = first["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = _model_at(schema, loc[:-1]) if schema is not None else None
        allowed = list(section_fields(parent) or {}) if parent is not None else []
        hint = did_you_mean(str(loc[-1]), allowed)
        if not hint and allowed:
            hint = f" (allowed: {', '.join(allowed)})"
        msg = f"{source}: unknown key {dotted!r}{hint}"
    elif kind == "missing":
        expected = _expected(schema, loc) if schema is not None else "a value"
        msg = f"{source}: missing required key {dotted!r} (expected {expected})"
    else:
        expected = _expected(schema, loc) if schema is not None else "a valid value"
        got = first.get("input")
        msg = f"{source}: {dotted}: {first['msg']} (expected {expected}, got {got!r})"
    if len(errors) > 1:
        msg += f" [+{len(errors) - 1} more error(s)]"
    return msg


def validate(schema: type[M], cfg: ComposedConfig) -> M:
    """Validate a composed tree against ``schema``; :class:`ConfigError` on failure."""
    try:
        return schema.model_validate(cfg.data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, schema, cfg)) from None


def validate_section(section: Any, value: Any, cfg: ComposedConfig, key: str) -> Any:
    """Validate one section ``value`` (found at dotted ``key`` of ``cfg``) against its type ``section``."""
    try:
        return pydantic.TypeAdapter(section).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, section, cfg, prefix=key)) from None


def kwargs_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    """A strict pydantic model of ``fn``'s keyword arguments (from its type hints)."""
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    return pydantic.create_model(f"{name}_kwargs", __config__=config, **fields)


def validate_kwargs(
    fn: Callable[..., Any], kwargs: dict[str, Any], where: str, sources: ComposedConfig | None = None
) -> dict[str, Any]:
    """Check ``kwargs`` against ``fn``'s signature and type hints, coercing types.

    ``where`` is the dotted config prefix (e.g. ``"model"``) used in messages.
    Returns only the keys given (defaults stay with the builder).
    """
    model = kwargs_model(fn, where.replace(".", "_"))
    try:
        validated = model.model_validate(kwargs)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, model, sources, prefix=where)) from None
    return {k: getattr(validated, k) for k in kwargs}
