"""Behavior models' cross-field checks, which report every problem, even beside invalid fields."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import InitErrorDetails

FROZEN = ConfigDict(frozen=True, extra="forbid")
"""The config of every behavior model: immutable, and no field the schema does not name."""
_M = TypeVar("_M", bound=BaseModel)


class CrossFieldError(ValueError):
    """Several problems found by one validator, each at its own path below the validated model.

    ``koipond.behavior_files.validation_problems`` expands it, so each problem keeps a precise path.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {problem}" if path else problem for path, problem in problems))
        self.problems = tuple(problems)


class CrossChecked(BaseModel):
    """A model whose cross-field checks also run when one of its fields is invalid.

    Pydantic runs ``mode="after"`` validators only once every field is valid, so a file with a negative
    rate and a step naming an unknown action would name only the rate; fixed, it would fail again on the
    step. Here, when a field fails, :meth:`_problems_despite_field_errors` checks the raw input as far as
    it can, and its problems are reported beside the field errors.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _cross_check_despite_field_errors(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            problems = cls._problems_despite_field_errors(data) if isinstance(data, dict) else []
            if not problems:
                raise
            # Pydantic turns a ValidationError raised here into its line errors, below this model's path.
            raise _with_problems(exc, problems) from None

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        """The cross-field problems of raw input some of whose fields are invalid (skipping those)."""
        return []


def _with_problems(exc: ValidationError, problems: list[tuple[str, str]]) -> ValidationError:
    line_errors: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        line_error = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
        if "ctx" in error:
            line_error["ctx"] = error["ctx"]
        line_errors.append(line_error)
    line_errors.append(
        InitErrorDetails(type="value_error", loc=(), input=None, ctx={"error": CrossFieldError(problems)})
    )
    return ValidationError.from_exception_data(exc.title, line_errors)


def real_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def valid_part(model: type[_M], data: Any) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def valid_parts(model: type[_M], data: dict[Any, Any]) -> dict[str, _M]:
    parts = {name: valid_part(model, value) for name, value in data.items() if isinstance(name, str)}
    return {name: part for name, part in parts.items() if part is not None}
