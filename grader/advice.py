"""What to tell a student whose notebook could not be graded: one place for all advice.

Most notebooks that fail here ran fine where they were written (Colab, a GPU laptop, the
course's repository), so "fix the first error" is no help. Errors the grading environment
causes are recognised from the error text and the failing cell and explained with that
environment's facts (offline, CPU-only, versions, the data file beside the notebook) and the
exact fix; every other error kind gets advice of its own. Tracebacks shown to students lose
TensorFlow's C++/CUDA/oneDNN log lines, which say nothing about their code (the raw text stays
in the JSON result for instructors).
"""
from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass

from grader.errors import GENERIC  # the advice per kind lives with the kinds (errors.py)

#: what each neutralized environment line became (the kernel reports these names)
NEUTRALIZED = {
    "wget": "`!wget` of the exercise's data file: answered with the provided copy (the grader is offline)",
    "curl": "`!curl` of the exercise's data file: answered with the provided copy (the grader is offline)",
    "urlretrieve": "`urlretrieve` of the exercise's data file: answered with the provided copy",
    "urlopen": "`urlopen` of the exercise's data file: answered with the provided copy",
    "requests": "`requests.get` of the exercise's data file: answered with the provided copy",
    "get_file": "`keras.utils.get_file` of the exercise's data file: answered with the provided copy",
    "%load_ext tensorboard": "`%load_ext tensorboard`: skipped (display only; no TensorBoard here)",
    "%tensorboard": "`%tensorboard`: skipped (display only)",
    "!tensorboard": "`!tensorboard`: skipped (it would wait forever for a browser)",
    "%matplotlib": "`%matplotlib` backend: replaced by `%matplotlib inline`",
    "pip install": "`pip install` of packages already installed: skipped",
    "pip install (not available)": "`pip install`: skipped, the grading machine is offline; not installed",
    "google.colab": "`google.colab`: not on the grading machine; your notebook checks for it, so the "
                    "Colab-only part was skipped",
    "self-check": "`grader.notebook.check` / `%grader_check` (the self-check): does nothing during "
                  "grading; the grader checks your model itself",
}
NOISE = re.compile(
    r"^(?:[EWIF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"  # absl/glog: E0000 00:00:... file.cc:12]
    r"|.*(?:oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|This TensorFlow binary is optimized"
    r"|To enable the following instructions|rebuild TensorFlow with the appropriate compiler"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory|Could not find cuda drivers"
    r"|cuda_(?:dnn|fft|blas|executor|diagnostics|driver)|computation_placer\.cc"
    r"|WARNING: All log messages before absl::InitializeLog|failed call to cuInit"
    r"|TensorRT|tensorflow/core/util/port\.cc|cpu_feature_guard\.cc).*)$")


@dataclass(frozen=True)
class Facts:
    """The grading machine as a student should know it."""

    data_file: str
    tensorflow: str | None = None
    keras: str | None = None
    python: str = "{}.{}".format(*sys.version_info[:2])
    #: the exercise's comments around the student's code ({"start": ..., "end": ...})
    markers: dict | None = None

    @property
    def machine(self) -> str:
        return (f"the grading machine runs Python {self.python}, TensorFlow {self.tensorflow or '?'} "
                f"and Keras {self.keras or '?'}, offline and on the CPU only (no GPU)")

    @property
    def load(self) -> str:
        return (f"load the data with `gzip.open('{self.data_file}', 'rb')`: the grader puts "
                f"`{self.data_file}` next to your notebook, and the working directory holds only "
                f"your notebook and that file")


def clean_traceback(text: str | None) -> str | None:
    """The traceback without TensorFlow's C++ log lines (unchanged when there are none)."""
    if not text:
        return text
    return "\n".join(line for line in text.split("\n") if not NOISE.match(line.strip()))


def advise(kind: str, message: str, traceback: str | None, source: str | None, facts: Facts) -> str | None:
    """Advice for an error: the environment's explanation when it caused it, else per kind."""
    text = f"{message}\n{traceback or ''}"
    code = source or ""
    for rule in RULES:
        found = rule(kind, text, code, facts)
        if found:
            return found[0].upper() + found[1:]
    return GENERIC.get(kind)


def _colab(kind, text, code, facts):
    if "google.colab" in text or re.search(r"No module named '?google'?", text) and "colab" in code:
        return ("`google.colab` exists only on Google Colab; " + facts.machine + ". Remove the "
                "Colab cell (`drive.mount(...)` too), or guard it: `try: from google.colab import "
                "drive` … `except ImportError: pass`. Then " + facts.load + ".")
    return None


def _paths(kind, text, code, facts):
    if not re.search(r"FileNotFoundError|No such file or directory", text):
        return None
    if "/content/" in text or "/content/" in code or "drive/MyDrive" in text:
        return ("`/content/drive/…` exists only on Colab with your Google Drive mounted. "
                + facts.load[0].upper() + facts.load[1:] + ".")
    if re.search(r"\.\./|data/", text) or facts.data_file in text:
        return ("that path exists in the course's repository or on your machine, not on the grading "
                "machine. " + facts.load[0].upper() + facts.load[1:] + ".")
    return ("the file is not on the grading machine. " + facts.load[0].upper() + facts.load[1:]
            + "; create any other file in the notebook itself.")


#: GPU set-up in the failing cell's code (a comment that mentions a GPU is none)
GPU_CODE = re.compile(r"^[^#\n]*(?:['\"]/?(?:device:)?GPU|['\"]gpu|set_memory_growth|is_gpu_available"
                      r"|gpu_device_name|cuda|CUDA_VISIBLE_DEVICES)", re.MULTILINE)


def _gpu(kind, text, code, facts):
    if kind not in ("cell_error", "kernel_died") or not GPU_CODE.search(code):
        return None
    return ("your notebook expects a GPU, but " + facts.machine + ": "
            "`tf.config.list_physical_devices('GPU')` is empty there. Remove the set-up that "
            "expects a GPU (`set_memory_growth(gpus[0], …)`, asserts on a GPU; a "
            "`tf.device('/GPU:0')` scope alone just runs on the CPU): Keras uses the CPU by "
            "itself, and the grader trains your network on the CPU anyway.")


def _legacy(kind, text, code, facts):
    if "LegacyKerasCall" not in text:
        return None
    return ("the grader ran your notebook through its Keras 1/2 compatibility layer, which maps "
            "the calls of the course's notebooks only; " + facts.machine + ". Write this call the "
            "Keras 3 way, as the message says.")


def _module_path(kind, text, code, facts):
    m = re.search(r"No module named '(keras\.[\w.]+|tensorflow\.keras\.[\w.]+)'"
                  r"|module '(keras[\w.]*)' has no attribute '(\w+)'", text)
    if not m:
        return None
    name = m.group(1) or f"{m.group(2)}.{m.group(3)}"
    return (f"`{name}` is a Keras 2 module path; Keras {facts.keras or '3'} has none: import the "
            "layers from `keras.layers` directly, e.g. `from keras.layers import Conv2D, "
            "BatchNormalization, Activation, MaxPooling2D`.")


def _tensorflow1(kind, text, code, facts):
    m = re.search(r"module 'tensorflow' has no attribute '(\w+)'", text)
    if not m:
        return None
    return (f"`tf.{m.group(1)}` is TensorFlow 1 API; TensorFlow {facts.tensorflow or '2'} has it only "
            f"as `tf.compat.v1.{m.group(1)}`, if at all: write it the TensorFlow 2 way "
            "(e.g. `tf.random.set_seed(1)` for `tf.set_random_seed(1)`).")


#: Keras 1/2 names that Keras 3 removed -> what to write instead
RENAMED = {"fit_generator": "model.fit(generator, ...)", "predict_generator": "model.predict(generator)",
           "evaluate_generator": "model.evaluate(generator)", "predict_proba": "model.predict(x)",
           "predict_classes": "np.argmax(model.predict(x), axis=-1)", "lr": "learning_rate=",
           "nb_epoch": "epochs=", "init": "kernel_initializer=", "border_mode": "padding=",
           "subsample": "strides=", "output_dim": "units=", "W_regularizer": "kernel_regularizer="}


def _keras_renamed(kind, text, code, facts):
    m = (re.search(r"has no attribute '(\w+)'", text) or re.search(
        r"(?:Unrecognized keyword arguments passed to \w+|Argument\(s\) not recognized): \{'(\w+)'", text))
    if not m or m.group(1) not in RENAMED:
        return None
    return (f"`{m.group(1)}` is Keras 1/2 API that Keras {facts.keras or '3'} removed: write "
            f"`{RENAMED[m.group(1)]}` instead.")


def _missing_package(kind, text, code, facts):
    m = re.search(r"No module named '([\w.]+)'", text)
    if not m:
        return None
    return (f"the package `{m.group(1)}` is not installed on the grading machine, and `!pip install` "
            "cannot download it: " + facts.machine + ". Use only what the exercise needs (numpy, "
            "matplotlib, TensorFlow/Keras) and remove the import.")


BIG_LAYER = re.compile(r"\b(Dense|Conv[123]D|Convolution2D)\s*\(\s*([\d_]{6,})")


def _memory(kind, text, code, facts):
    big = BIG_LAYER.search(code)
    oom = kind == "memory_limit" or (kind == "kernel_died" and big) or re.search(
        r"MemoryError|ResourceExhausted|OOM when allocating|Unable to allocate|out of memory", text)
    if not oom:
        return None
    if big:
        return (f"the cell ran out of memory building `{big.group(1)}({big.group(2)})`: a layer of "
                f"{int(big.group(2).replace('_', '')):,} units makes the model far larger than the "
                "exercise. Check your layer sizes (units, filters) against the exercise.")
    return ("the notebook ran out of memory: check your layer sizes (units, filters) and array "
            "sizes against the exercise; the model is probably far larger than it should be.")


def _markers(kind, text, code, facts):
    if not re.search(r"expected (?:min_)?ndim=4|expected axis -1 of input shape|Input 0 of layer", text):
        return None
    marked = facts.markers or {}
    between = (f"between the markers `{marked['start']}` and `{marked['end']}`"
               if marked.get("start") and marked.get("end") else "between the markers")
    return ("your layers are added where the data is already flat (after `Flatten`, `Dense` or "
            f"`compile`). Put them {between} in the model cell, where the images still have "
            "their 2D shape.")


def _name_error(kind, text, code, facts):
    m = re.search(r"NameError: name '(\w+)' is not defined", text)
    if not m:
        return None
    name = m.group(1)
    close = difflib.get_close_matches(name, [n for n in _known_names(code) if n != name], n=1,
                                    cutoff=0.8)
    spelling = f"Did you mean `{close[0]}`? " if close else "Check the spelling, or "
    return (f"`{name}` is not defined when this cell runs: the grader runs every cell once, "
            "from the top, in a fresh kernel (as Kernel → Restart & Run All does). "
            + spelling + ("define or import it in an earlier cell." if not close else
                          "Otherwise define or import it in an earlier cell."))


def _known_names(code: str) -> list[str]:
    """Names a misspelt one was probably meant to be: Keras's layers and the cell's own words."""
    from grader.layers import ALIASES, ALLOWED

    return sorted({*ALLOWED, *ALIASES, *re.findall(r"\b[A-Za-z_]\w{2,}\b", code or "")})


RULES = (_legacy, _colab, _paths, _gpu, _module_path, _tensorflow1, _keras_renamed,
         _missing_package, _memory, _markers, _name_error)
