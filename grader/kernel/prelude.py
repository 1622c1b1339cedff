"""Runs first in the student's kernel: caps the epochs of ``fit``.

The grader re-trains the architecture itself, so the notebook's own training is only shown; a
short run keeps grading fast. Undoing this only makes the student's own grading slower.
"""


def __grader_prelude(max_epochs):
    import keras

    original_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        args = list(args)
        if len(args) >= 4:  # fit(x, y, batch_size, epochs, ...)
            args[3] = min(int(args[3]), max_epochs)
        else:
            kwargs["epochs"] = min(int(kwargs.get("epochs", 1)), max_epochs)
        kwargs.pop("initial_epoch", None)
        return original_fit(self, *args, **kwargs)

    fit.__wrapped__ = original_fit
    keras.Model.fit = fit
