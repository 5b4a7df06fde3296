"""The one exception type for a user's mistake (a bad path, option, config key or data file).

Every command-line entry point turns a UserError into one line, `error: <message>`, and exit code 2
(see pneumonia_tf.cli); anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A user's mistake; the message names the file, option or key and what was expected."""
