"""The ``gdw`` command line: submit, schedule, inspect and control tasks from a shell.

It speaks only through gdw_core's public API (TaskQueue, Inspector, Controller) and never imports
user code: task names are checked against what live workers advertise."""
