"""Builds the cnn2 course notebooks: the template, the solution, the sample submissions and the
test fixtures all come from one source, so they differ only where a mistake is meant.

    python -m tests.notebooks          # rewrite reference/*/*.ipynb, its samples and submissions/*.ipynb
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent

IMPORTS = """\
%matplotlib inline
import sys, gzip, pickle
import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
import keras
from keras.models import Sequential
from keras.layers import Input, Dense, Activation, Dropout, BatchNormalization
from keras.layers import Conv2D, MaxPooling2D, Flatten
keras.utils.set_random_seed(1)
print("Keras {} TF {} Python {}".format(keras.__version__, tf.__version__, sys.version.split()[0]))"""

LOAD = """\
# the data file lies in the same directory as this notebook
with gzip.open('mnist_4000.pkl.gz', 'rb') as f:
    (X, y) = pickle.load(f, encoding='latin1')
print(X.shape, y.shape)  # as read: (4000, 1, 28, 28)"""

SPLIT = """\
X_train = np.reshape(X[0:2400], (2400, 28, 28, 1))
Y_train = y[0:2400]
X_val = np.reshape(X[2400:3000], (600, 28, 28, 1))
Y_val = y[2400:3000]
print(X_train.shape, X_val.shape)"""

ONEHOT = """\
def convertToOneHot(vector, num_classes=None):
    result = np.zeros((len(vector), num_classes), dtype='float32')
    result[np.arange(len(vector)), vector] = 1
    return result

Y_train = convertToOneHot(Y_train, num_classes=10)
Y_val = convertToOneHot(Y_val, num_classes=10)
print(Y_train.shape, Y_val.shape)"""

STANDARDIZE = """\
# here we center and standardize the data (one mean and one std: the file is already
# standardized per pixel, and a per-pixel std of constant border pixels would be ~0)
X_mean = np.mean(X_train)
X_std = np.std(X_train)
X_train = (X_train - X_mean) / (X_std + 0.0001)
X_val = (X_val - X_mean) / (X_std + 0.0001)"""

HYPER = """\
# here we define some important hyperparameters of the NN
batch_size = 128
nb_classes = 10
nb_epoch = 8
img_rows, img_cols = 28, 28
kernel_size = (3, 3)
input_shape = (img_rows, img_cols, 1)
pool_size = (2, 2)"""

def model_head(name: str, filters: tuple[int, int, int], title: str = "a deeper CNN model") -> str:
    """The model cell up to the students' marker: two conv blocks, pooling, a third conv block."""
    first, second, third = filters
    return f"""\
### {title}
name = '{name}'
model = Sequential()
model.add(Input(shape=input_shape))
model.add(Conv2D({first}, kernel_size, kernel_initializer='he_normal', padding='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(Conv2D({second}, kernel_size, kernel_initializer='he_normal', padding='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))

model.add(MaxPooling2D(pool_size=pool_size))

model.add(Conv2D({third}, kernel_size, kernel_initializer='he_normal', padding='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))

# here is your code coming:
"""


def model_tail(dense: int) -> str:
    """The model cell after the students' code: the dense head, softmax, compile."""
    return f"""
# end of your code

model.add(Flatten())
model.add(Dense({dense}, kernel_initializer='he_normal'))
model.add(BatchNormalization())
model.add(Dropout(0.3))
model.add(Activation('relu'))
model.add(Dense(nb_classes, kernel_initializer='he_normal'))
model.add(Activation('softmax'))

model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])"""


MODEL_HEAD = model_head("cnn2", (32, 32, 64))
MODEL_TAIL = model_tail(200)

FIT = """\
history = model.fit(X_train, Y_train, batch_size=batch_size, epochs=nb_epoch,
                    verbose=2, validation_data=(X_val, Y_val))"""

PLOTS = """\
plt.figure(figsize=(12, 4))
plt.subplot(1, 2, 1)
plt.plot(history.history['accuracy'])
plt.plot(history.history['val_accuracy'])
plt.title('model accuracy'); plt.ylabel('accuracy'); plt.xlabel('epoch')
plt.legend(['train', 'valid'], loc='lower right')
plt.subplot(1, 2, 2)
plt.plot(history.history['loss'])
plt.plot(history.history['val_loss'])
plt.title('model loss'); plt.ylabel('loss'); plt.xlabel('epoch')
plt.legend(['train', 'valid'], loc='upper right')
plt.show()"""

#: the template's optional last cell: the instant self-check (skipped during grading)
SELFCHECK = """\
# Optional: check the four layers right here, in a second (structure only; the final grading
# runs the whole notebook and trains the network). Needs `pip install cnn-grader`.
try:
    from grader.notebook import check
except ImportError:
    check = lambda *args: print("The self-check is not installed: pip install cnn-grader")
check()"""

SOLUTION = """\
model.add(Conv2D(64, kernel_size, kernel_initializer='he_normal', padding='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=pool_size))
"""


#: the written questions (id, prompt) of reference/cnn2/exercise.json, in our own words
QUESTIONS = (
    ("a", "**Question a)** Look back at the fully connected network (784 → 500 → 50 → 10). In "
          "which layer are most of its learnable parameters, and how do you get the 392,500 "
          "of its first dense layer?"),
    ("b", "**Question b)** Now the small CNN of last week (cnn1). Which layer holds the most "
          "parameters? Does it overfit more or less than the fully connected network, and "
          "why? Which validation accuracy did it reach, how can you tell whether it overfits, "
          "and what happens when you skip the standardization?"),
    ("c", "**Question c)** How well does this deeper CNN (695,970 parameters) do?"),
)

#: the solution's answers (what a good student might write), by question id
ANSWERS = {
    "a": "Most parameters sit in the first dense layer, dense_1: every one of the 784 pixels "
         "is connected to each of the 500 units, so 784 · 500 = 392,000 weights, plus one bias "
         "per unit: 392'500 parameters.",
    "b": "Again dense_1 (250,890 = 25,088 · 10 + 10): the flattened 28x28x32 feature maps "
         "all connect to the 10 outputs. The CNN overfits less, because a 3x3 kernel is shared "
         "over the whole image and needs few weights. Training and validation accuracy stay "
         "close; we compare the two curves over the epochs. Without standardizing, the "
         "training is slower and less stable, so the accuracy is lower after the same epochs.",
    "c": "It does better than cnn1 and the fully connected net, and the validation curve "
         "follows the training curve closely, so it hardly overfits.",
}

#: the template's answer cells: empty prompts for the student to fill
NO_ANSWERS = {key: "" for key in ANSWERS}


def answer_cells(answers: dict[str, str] | None,
                 questions: tuple[tuple[str, str], ...] = QUESTIONS) -> list:
    """A prompt and a tagged answer cell (``answer:<id>``) per question; none for ``None``."""
    if answers is None:
        return []
    cells = [new_markdown_cell("## Questions\n\nAnswer each question in the cell below it.")]
    for key, prompt in questions:
        cell = new_markdown_cell(answers.get(key, ""))
        cell.metadata["tags"] = [f"answer:{key}"]
        cells += [new_markdown_cell(prompt), cell]
    return cells


def course_notebook(student_code: str = "\n", *, model_cell: str | None = None,
                    extra_cells: tuple[str, ...] = (), fit: str = FIT,
                    selfcheck: str | None = None,
                    answers: dict[str, str] | None = ANSWERS,
                    questions: tuple[tuple[str, str], ...] = QUESTIONS) -> nbformat.NotebookNode:
    """The cnn2 notebook with ``student_code`` between the markers (or a whole model cell);
    ``selfcheck``: a last cell (the template's is ``SELFCHECK``); ``answers``: the written
    answers by question id (``NO_ANSWERS``: the template's empty cells; None: no cells)."""
    model = model_cell if model_cell is not None else MODEL_HEAD + student_code + MODEL_TAIL
    cells = [
        new_markdown_cell("# Using a CNN on a small MNIST data set\n\nA deeper CNN with 4 "
                          "convolutional layers and 2 dense layers, trained on 2400 images on the "
                          "CPU. **Add the four missing layers** where the model cell says so."),
        new_code_cell(IMPORTS), new_code_cell(LOAD), new_code_cell(SPLIT), new_code_cell(ONEHOT),
        new_code_cell(STANDARDIZE), new_code_cell(HYPER), new_code_cell(model),
        new_code_cell("model.summary()"), *[new_code_cell(c) for c in extra_cells],
        new_code_cell(fit), new_code_cell(PLOTS), *answer_cells(answers, questions),
    ] + ([new_code_cell(selfcheck)] if selfcheck is not None else [])
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def model_only_notebook(student_code: str = "\n", *, model_cell: str | None = None,
                        answers: dict[str, str] | None = None,
                        questions: tuple[tuple[str, str], ...] = QUESTIONS) -> nbformat.NotebookNode:
    """Imports, hyperparameters and the model cell only: no data, no training (fast in tests);
    ``answers``: then the written answers' cells (markdown, never run; default none)."""
    model = model_cell if model_cell is not None else MODEL_HEAD + student_code + MODEL_TAIL
    return new_notebook(cells=[new_code_cell(IMPORTS), new_code_cell(HYPER), new_code_cell(model),
                               *answer_cells(answers, questions)])


def code_notebook(*sources: str) -> nbformat.NotebookNode:
    """A notebook of the given code cells, for failure-mode fixtures."""
    return new_notebook(cells=[new_code_cell(s) for s in sources])


FUNCTIONAL = """\
### the same network, written with the functional API and other spellings
from keras.layers import ReLU
inputs = keras.Input(shape=input_shape)
x = Conv2D(32, 3, kernel_initializer='he_normal', padding='same')(inputs)
x = ReLU()(BatchNormalization()(x))
x = Conv2D(32, (3, 3), kernel_initializer='he_normal', padding='same')(x)
x = ReLU()(BatchNormalization()(x))
x = MaxPooling2D()(x)
x = Conv2D(64, 3, kernel_initializer='he_normal', padding='same')(x)
x = ReLU()(BatchNormalization()(x))
# here is your code coming:
x = Conv2D(64, 3, kernel_initializer='he_normal', padding='same')(x)
x = BatchNormalization()(x)
x = ReLU()(x)
x = MaxPooling2D((2, 2))(x)
# end of your code
x = Flatten()(x)
x = Dense(200, kernel_initializer='he_normal')(x)
x = Activation('relu')(Dropout(0.3)(BatchNormalization()(x)))
outputs = keras.layers.Softmax()(Dense(nb_classes, kernel_initializer='he_normal')(x))
net = keras.Model(inputs, outputs)
net.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
model = net"""

SUBCLASSED = """\
### the cnn2 network written as a class (the layers of the solution, applied in call())
class CNN2(keras.Model):
    def __init__(self):
        super().__init__()
        self.blocks = [Conv2D(32, kernel_size, kernel_initializer='he_normal', padding='same'),
                       BatchNormalization(), Activation('relu'),
                       Conv2D(32, kernel_size, kernel_initializer='he_normal', padding='same'),
                       BatchNormalization(), Activation('relu'), MaxPooling2D(pool_size=pool_size),
                       Conv2D(64, kernel_size, kernel_initializer='he_normal', padding='same'),
                       BatchNormalization(), Activation('relu'),
                       # here is your code coming:
                       Conv2D(64, kernel_size, kernel_initializer='he_normal', padding='same'),
                       BatchNormalization(), Activation('relu'), MaxPooling2D(pool_size=pool_size),
                       # end of your code
                       Flatten(), Dense(200, kernel_initializer='he_normal'), BatchNormalization(),
                       Dropout(0.3), Activation('relu'), Dense(nb_classes, kernel_initializer='he_normal'),
                       Activation('softmax')]

    def call(self, x, training=False):
        for layer in self.blocks:
            x = layer(x, training=training)
        return x

name = 'cnn2'
model = CNN2()
model.build((None,) + input_shape)
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])"""

#: last week's network (a small cnn1), still in the notebook beside this week's
CNN1 = """\
### last week's network, kept for comparison
cnn1 = Sequential()
cnn1.add(Input(shape=input_shape))
cnn1.add(Conv2D(8, kernel_size, padding='same'))
cnn1.add(Activation('relu'))
cnn1.add(MaxPooling2D(pool_size=pool_size))
cnn1.add(Conv2D(16, kernel_size, padding='same'))
cnn1.add(Activation('relu'))
cnn1.add(MaxPooling2D(pool_size=pool_size))
cnn1.add(Flatten())
cnn1.add(Dense(40))
cnn1.add(Activation('relu'))
cnn1.add(Dense(nb_classes))
cnn1.add(Activation('softmax'))
cnn1.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])"""


def two_models_cell(old: str = "model", new: str = "model2") -> str:
    """A model cell with last week's cnn1 in ``old`` and the solved cnn2 in ``new``."""
    return CNN1.replace("cnn1", old) + "\n\n" + _renamed(MODEL_HEAD + SOLUTION + MODEL_TAIL, new)


def two_models_notebook(old: str = "model", new: str = "model2") -> nbformat.NotebookNode:
    """The course notebook with ``two_models_cell``, trained as ``new``."""
    return course_notebook(model_cell=two_models_cell(old, new), fit=_renamed(FIT, new))


def _renamed(code: str, new: str) -> str:
    return code.replace("model.", f"{new}.").replace("model = ", f"{new} = ")


#: sample submission name -> student code between the markers (or a whole notebook)
MISTAKES = {
    "no_padding": "model.add(Conv2D(64, kernel_size, kernel_initializer='he_normal'))\n"
                  "model.add(BatchNormalization())\nmodel.add(Activation('relu'))\n"
                  "model.add(MaxPooling2D(pool_size=pool_size))\n",
    "no_pooling": "model.add(Conv2D(64, kernel_size, kernel_initializer='he_normal', padding='same'))\n"
                  "model.add(BatchNormalization())\nmodel.add(Activation('relu'))\n",
    "32_filters": SOLUTION.replace("Conv2D(64", "Conv2D(32"),
    "5x5_kernel": SOLUTION.replace("kernel_size,", "(5, 5),"),
    "no_batchnorm": SOLUTION.replace("model.add(BatchNormalization())\n", ""),
    "wrong_order": "model.add(Conv2D(64, kernel_size, kernel_initializer='he_normal', padding='same'))\n"
                   "model.add(MaxPooling2D(pool_size=pool_size))\nmodel.add(BatchNormalization())\n"
                   "model.add(Activation('relu'))\n",
    "fused_activation": "model.add(Conv2D(64, kernel_size, kernel_initializer='he_normal', "
                        "padding='same', activation='relu'))\nmodel.add(BatchNormalization())\n"
                        "model.add(MaxPooling2D(pool_size=pool_size))\n",
    "nothing_added": "\n",
    "softmax": SOLUTION.replace("Activation('relu')", "Activation('softmax')"),
}

SAMPLES = {
    "alice_solution": lambda: course_notebook(SOLUTION),
    "bob_no_padding": lambda: course_notebook(MISTAKES["no_padding"]),
    "carol_no_pooling": lambda: course_notebook(MISTAKES["no_pooling"]),
    "dave_32_filters": lambda: course_notebook(MISTAKES["32_filters"]),
    "erin_5x5_kernel": lambda: course_notebook(MISTAKES["5x5_kernel"]),
    "frank_no_batchnorm": lambda: course_notebook(MISTAKES["no_batchnorm"]),
    "grace_wrong_order": lambda: course_notebook(MISTAKES["wrong_order"]),
    "heidi_fused_activation": lambda: course_notebook(MISTAKES["fused_activation"]),
    # the template handed in unchanged: nothing added, the answer cells left empty
    "ivan_nothing_added": lambda: course_notebook(MISTAKES["nothing_added"], answers=NO_ANSWERS),
    "judy_functional": lambda: course_notebook(model_cell=FUNCTIONAL),
    "olivia_softmax": lambda: course_notebook(MISTAKES["softmax"]),
    "mallory_typo": lambda: course_notebook(SOLUTION.replace("MaxPooling2D(pool", "MaxPoolling2D(pool")),
    "oscar_subclassed": lambda: course_notebook(model_cell=SUBCLASSED),
    "peggy_two_models": two_models_notebook,
}


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def main() -> None:
    write(course_notebook(selfcheck=SELFCHECK, answers=NO_ANSWERS),
          ROOT / "reference" / "cnn2" / "template.ipynb")
    write(course_notebook(SOLUTION, selfcheck=SELFCHECK),
          ROOT / "reference" / "cnn2" / "solution.ipynb")
    for name, build in SAMPLES.items():
        write(build(), ROOT / "submissions" / f"{name}.ipynb")
    from tests import notebooks_2018  # the second exercise, built from these cells
    notebooks_2018.main()


if __name__ == "__main__":
    main()
