"""The error for an `ALBUMREC_*` variable albumrec cannot use.

Apart from `settings`, which raises it while it is being imported: whoever catches it (the
`albumrec` command) must be able to import the class when importing `settings` failed.
"""


class SettingsError(ValueError):
    """An `ALBUMREC_*` variable holds a value albumrec cannot use."""

    def __init__(self, variable: str, value: str, problem: str, allowed: str):
        super().__init__(f"{variable}={value!r} {problem}; {allowed}")
        self.variable = variable
        self.value = value
