"""``python -m grader`` and the ``grader`` command. The grading commands need the ``grade``
extra (TensorFlow, nbclient, …); a student's plain ``pip install cnn-grader`` has only the
in-notebook self-check, so a missing grading dependency is one line and exit code 5."""
import sys

#: imported by the grading commands, installed by ``cnn-grader[grade]``
GRADE_DEPENDENCIES = frozenset({"tensorflow", "keras", "nbclient", "nbformat", "ipykernel",
                                "jupyter_client", "jupyter_core", "matplotlib", "psutil"})


def main(argv=None) -> int:
    try:
        from grader.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in GRADE_DEPENDENCIES:
            raise
        print(f"grader: error: the grading commands need {exc.name}, which is not installed: "
              "install cnn-grader[grade] (pip install 'cnn-grader[grade]')", file=sys.stderr)
        return 5
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
