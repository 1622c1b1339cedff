"""Builds the second exercise, ``cnn2_2018``: the course's 2018 edition of the same task.

A smaller cnn2 (8/8/16 filters, a ``Dense(40)`` head) on the same data, where the four layers
to add are ``Conv2D(16, 3x3, padding='same')`` → ``BatchNormalization`` → ``Activation('relu')``
→ ``MaxPooling2D(2x2)``. Everything around the model cell (imports, data, split, training,
plots) is cnn2's (``tests.notebooks``), so the two exercises differ only in their network: the
grader grades both through the same code, and only ``reference/NAME/`` tells them apart.

    python -m tests.notebooks_2018     # rewrite reference/cnn2_2018/ only
    python -m tests.notebooks          # rewrite every exercise and submissions/
"""
from __future__ import annotations

import nbformat

from tests.notebooks import ROOT, course_notebook, model_head, model_tail, write

EXERCISE = "cnn2_2018"
FOLDER = ROOT / "reference" / EXERCISE

MODEL_HEAD = model_head(EXERCISE, (8, 8, 16), title="a deeper CNN model (the 2018 edition: "
                        "fewer filters, a smaller dense layer)")
MODEL_TAIL = model_tail(40)

SOLUTION = """\
model.add(Conv2D(16, kernel_size, kernel_initializer='he_normal', padding='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=pool_size))
"""

#: the template's self-check cell: names its exercise (the default one is cnn2)
SELFCHECK = """\
# Optional: check the four layers right here, in a second (structure only; the final grading
# runs the whole notebook and trains the network). Needs `pip install cnn-grader`.
try:
    from grader.notebook import check
except ImportError:
    check = lambda *args, **kwargs: print("The self-check is not installed: pip install cnn-grader")
check(exercise='cnn2_2018')"""

#: sample name -> the student's code between the markers
MISTAKES = {
    "64_filters": SOLUTION.replace("Conv2D(16", "Conv2D(64"),  # this year's cnn2 answer
    "no_batchnorm": SOLUTION.replace("model.add(BatchNormalization())\n", ""),
}


#: this edition's own questions (reference/cnn2_2018/exercise.json), in our words
QUESTIONS = (
    ("params", "**Question:** Which layer of this network has the most learnable parameters, "
               "and how do you compute their number?"),
    ("performance", "**Question:** How well does this small network do on the validation "
                    "data, compared with the 2017 cnn2 (about 20 times more parameters)?"),
)
ANSWERS = {
    "params": "The first dense layer: the flattened 7x7x16 = 784 values each feed 40 units, "
              "784 * 40 + 40 biases = 31 400 parameters.",
    "performance": "With only 36,314 parameters it reaches nearly the accuracy of the big "
                   "cnn2: most of the 2017 parameters sat in the dense head.",
}
NO_ANSWERS = {key: "" for key in ANSWERS}


def notebook(student_code: str = "\n", selfcheck: str | None = None,
             answers: dict[str, str] | None = ANSWERS) -> nbformat.NotebookNode:
    """The 2018 notebook with ``student_code`` between the markers, and its written answers."""
    return course_notebook(model_cell=MODEL_HEAD + student_code + MODEL_TAIL, selfcheck=selfcheck,
                           answers=answers, questions=QUESTIONS)


SAMPLES = {
    "alice_solution": lambda: notebook(SOLUTION),
    "dave_64_filters": lambda: notebook(MISTAKES["64_filters"]),
    "frank_no_batchnorm": lambda: notebook(MISTAKES["no_batchnorm"]),
}


def main() -> None:
    write(notebook(selfcheck=SELFCHECK, answers=NO_ANSWERS), FOLDER / "template.ipynb")
    write(notebook(SOLUTION, selfcheck=SELFCHECK), FOLDER / "solution.ipynb")
    for name, build in SAMPLES.items():
        write(build(), FOLDER / "samples" / f"{name}.ipynb")


if __name__ == "__main__":
    main()
