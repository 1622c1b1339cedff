"""The reference spec is generated from the solution by a grader command, not typed by hand."""
import json
import shutil

import pytest

from grader import api
from grader.checks import registry
from grader.exercise.spec import Spec

from tests.conftest import ROOT


@pytest.mark.kernel
def test_grader_spec_regenerates_the_committed_spec(tmp_path, fast_settings):
    folder = tmp_path / "reference"
    shutil.copytree(ROOT / "reference" / "cnn2", folder, ignore=shutil.ignore_patterns("spec.json", "gradescope"))
    spec = api.generate_spec(folder, settings=fast_settings)
    committed = Spec.load(ROOT / "reference" / "cnn2")
    assert spec.layers == committed.layers and spec.missing == committed.missing
    assert spec.questions == committed.questions and spec.checks == committed.checks
    assert spec.totals == {"total": 695_970, "trainable": 695_186, "non_trainable": 784}
    added = [spec.layers[i] for i in spec.missing]
    assert [layer["type"] for layer in added] == ["Conv2D", "BatchNormalization", "Activation", "MaxPooling2D"]
    assert added[-1]["output_shape"] == [None, 7, 7, 64]
    assert sum(row["trainable"] + row["non_trainable"] for row in added) == 36_928 + 256
    assert json.loads((folder / "spec.json").read_text())["generated"]["by"] == "grader spec"


def test_a_missing_spec_names_the_command_that_makes_it(tmp_path):
    from grader.exceptions import SpecError
    with pytest.raises(SpecError, match="grader spec"):
        Spec.load(tmp_path)


def test_the_spec_drives_the_maximum_score(spec):
    points = spec.points
    expected = len(spec.missing) * sum(points["added_layers"].values()) + points["architecture"] \
        + points["totals"] + (points["accuracy"] if spec.training else 0) \
        + sum(f.get("points", 0) for q in spec.questions for f in q.get("facts", []))
    assert registry.max_score(spec) == expected
