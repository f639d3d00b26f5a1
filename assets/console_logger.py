"""Dagster's console logger for duban's jobs, which can print a failed step as one line instead of its traceback."""

from __future__ import annotations

import logging

import dagster as dg
from dagster._utils.log import create_console_logger

FAILURES = (dg.DagsterEventType.STEP_FAILURE.value, dg.DagsterEventType.RUN_FAILURE.value)


def root_cause(error) -> str:
    """The innermost error's first line (a SerializableErrorInfo chain), e.g. 'LakeConflict: other writers …'."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (error.message or error.cls_name or "").strip().splitlines()
    first = lines[0] if lines else "unknown error"
    name, sep, rest = first.partition(": ")
    return f"{name.rsplit('.', 1)[-1]}{sep}{rest}" if sep and " " not in name else first


class OneLineFailures(logging.Filter):
    """Rewrites step and run failures to one line: what failed and why; the traceback stays in the run's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = getattr(record, "dagster_event", None)
        if event is None:  # the steps after a failed one, each listing what it waited for: the failure says it
            return not ("Dependencies for step" in str(record.msg) and "Not executing" in str(record.msg))
        if event.event_type_value not in FAILURES:
            return True
        if event.event_type_value == dg.DagsterEventType.STEP_FAILURE.value and event.step_failure_data is not None:
            record.msg = f"step {event.step_key} failed: {root_cause(event.step_failure_data.error)}"
        else:
            record.msg = str(record.msg).strip().splitlines()[0]
        record.args = ()
        return True


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "one_line_failures": dg.Field(bool, is_required=False, default_value=False),
    },
    description="The colored console logger; with one_line_failures a failed step prints one line.",
)
def console_logger(init_context) -> logging.Logger:
    logger = create_console_logger("dagster", init_context.logger_config["log_level"])
    if init_context.logger_config["one_line_failures"]:
        logger.addFilter(OneLineFailures())
    return logger
