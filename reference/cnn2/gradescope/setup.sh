#!/usr/bin/env bash
# Gradescope autograder set-up for the cnn2 exercise: runs once, as root, when Gradescope builds
# the autograder image. The zip holds this file, run_autograder, cnn-grader/ (this repository)
# and, optionally, mnist_4000.pkl.gz (else it is downloaded here, while the build has a network).
set -euo pipefail
SOURCE=${AUTOGRADER:-/autograder}/source

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv /opt/grader
/opt/grader/bin/pip install --no-cache-dir "$SOURCE/cnn-grader[grade]"

# the course data, verified by its sha256 and cached for every later run
if [ -f "$SOURCE/mnist_4000.pkl.gz" ]; then
    /opt/grader/bin/grader data --reference "$SOURCE/cnn-grader/reference/cnn2" --from "$SOURCE/mnist_4000.pkl.gz"
else
    /opt/grader/bin/grader data --reference "$SOURCE/cnn-grader/reference/cnn2"
fi
