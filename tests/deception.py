"""Notebooks that lie about their model, one per class of trick and channel (see the team's
deception notes): generated from text like the mutation corpus, each with the verdict it must get.

Every trick starts from a *wrong* network (``WRONG``: the template with nothing added, ``W32``:
a Conv2D of 32 filters, or the solution with one layer made to compute something else) and tries
to make the grader see the solution. ``Trick.verdict``:

- ``"wrong"``: the network graded is not the described one or not the solution: never ``passed``;
- ``"flagged"``: a redirection to a correct network the notebook did build: may pass, but only
  with an entry in ``review``;
- ``"honest"``: a solution-equivalent that uses the same names innocently: must pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import nbformat
from nbformat.v4 import new_code_cell

from tests.notebooks import ANSWERS, MODEL_HEAD, MODEL_TAIL, SOLUTION, model_only_notebook

#: the added Conv2D with 32 filters: one mistake, 18,464 parameters instead of 36,928
W32 = SOLUTION.replace("Conv2D(64,", "Conv2D(32,")
WRONG = "\n"
#: a correct network built beside the graded one (for tricks that point the grader at it)
RIGHT = "_right = keras.models.clone_model(model)\n"


@dataclass(frozen=True)
class Trick:
    name: str
    cls: str  # the class of the deception notes: description, computation, redirection, late, mode
    student: str  # the code between the markers of the model cell
    cells: tuple[str, ...] = ()  # cells after the model cell
    verdict: str = "wrong"
    before: tuple[str, ...] = ()  # cells between the imports and the model cell
    #: a known hole the grader does not close yet (why): the corpus test expects it to fail
    open: str = ""

    def notebook(self) -> nbformat.NotebookNode:
        nb = model_only_notebook(self.student, answers=ANSWERS)  # full marks need the answers
        nb.cells[1:1] = [new_code_cell(c) for c in self.before]
        nb.cells += [new_code_cell(c) for c in self.cells]
        return nb


def _right_model(code: str = SOLUTION) -> str:
    """A cell that builds the solution's network as ``_right`` (never named ``model``)."""
    return (MODEL_HEAD.replace("model = Sequential()", "_right = Sequential()")
            .replace("model.add(", "_right.add(") + code.replace("model.add(", "_right.add(")
            + MODEL_TAIL.replace("model.add(", "_right.add(").replace("model.compile(", "_right.compile("))


#: a get_config that claims 64 filters: every Conv2D whose config says 32
CLAIM_64 = """\
_orig_config = keras.layers.Conv2D.get_config
def _claim(self):
    c = _orig_config(self)
    if c['filters'] == 32 and self is model.layers[10]:
        c['filters'] = 64
    return c
"""

#: true when the grader's probe is on the call stack (its code is compiled as ``<grader ...>``),
#: found without ``sys`` or ``inspect``: a traceback's frame
PROBING = """\
def _probing():
    try:
        raise RuntimeError
    except RuntimeError as e:
        f = e.__traceback__.tb_frame
    while f is not None:
        if f.f_code.co_filename.startswith('<grader'):
            return True
        f = f.f_back
    return False
"""
#: the probe-recognizing tricks (red team, issue 22): the probe is public and runs inside the
#: student's process, so a lie can switch itself off while it runs; what closes them is the
#: guard seeing the change to the code the model computes with (a Keras class, ``tf.nn``)
#: the probe's first value (its generator is public): the probe batch recognized by its data
PROBE_FIRST = "(((1664525 * 20170417 + 1013904223) & 0xFFFFFFFF) >> 8) / 16777216.0"

#: a ``_run`` for ``Function._run_through_graph`` that skips ``_target`` when the input has a
#: negative value (standardized images; the probe's did not): honest on the probe only
SKIP_ON_REAL_DATA = (
    "def _run(self, inputs, operation_fn=lambda op: op, call_fn=None):\n"
    "    real = tf.reduce_min(tf.nest.flatten(inputs)[0]) < 0\n"
    "    def opfn(op):\n"
    "        f = operation_fn(op)\n"
    "        return (lambda x, *a, **k: tf.where(real, x, f(x, *a, **k))) if op is _target else f\n"
    "    return _orig_run(self, inputs, opfn, call_fn)\n"
)

TRICKS = [
    # 1. lying descriptions
    Trick("get_config patched on the class", "description", W32,
          (CLAIM_64 + "keras.layers.Conv2D.get_config = _claim",)),
    Trick("get_config patched on the instance", "description", W32,
          (CLAIM_64 + "import types\nmodel.layers[10].get_config = types.MethodType(_claim, model.layers[10])",)),
    Trick("layers property of Sequential replaced", "description", WRONG,
          (_right_model(), "_orig = Sequential.layers\nSequential.layers = property("
           "lambda s: _orig.fget(_right) if s is model else _orig.fget(s))")),
    Trick("_layers of the instance replaced", "description", WRONG,
          (_right_model(), "model._layers = list(_right._layers)")),
    Trick("describing functions, serializer, open and globals replaced", "description", WRONG, (
        "import json, builtins\n"
        "_forged = '{\"ok\": true, \"models\": []}'\n"
        "json.dump = lambda obj, f, *a, **k: f.write(_forged)\n"
        "Sequential.count_params = lambda self: 695970\n"
        "Sequential.to_json = lambda self, **k: '{}'\n"
        "model.summary = lambda *a, **k: print('Total params: 695,970')\n"
        "_real_open = open\n"
        "def open(*a, **k):\n    return _real_open('/dev/null', 'w')\n"
        "def globals():\n    return {}\n",)),
    # 2. lying computation, honest description
    Trick("call of Conv2D replaced after building", "computation", SOLUTION,
          ("_c = keras.layers.Conv2D.call\n"
           "keras.layers.Conv2D.call = lambda self, inputs: (\n"
           "    inputs if self.filters == inputs.shape[-1] == 64 else _c(self, inputs))",)),
    Trick("backend convolution replaced", "computation", SOLUTION, (
        "import keras.src.backend.tensorflow.nn as _bnn\n_conv = _bnn.conv\n"
        "def conv(inputs, kernel, *a, **k):\n"
        "    return inputs if inputs.shape[-1] == kernel.shape[-1] == 64 else _conv(inputs, kernel, *a, **k)\n"
        "_bnn.conv = conv\nimport keras.src.backend as _b\n_b.nn.conv = conv",)),
    Trick("lookalike subclass reporting Keras's class", "computation", SOLUTION.replace(
        "model.add(Conv2D(64,", "class _Id(Conv2D):\n"
        "    __class__ = property(lambda self: Conv2D)\n"
        "    def call(self, inputs):\n        return inputs\nmodel.add(_Id(64,")),
    Trick("notebook class named like Keras's, installed into keras", "computation", SOLUTION.replace(
        "model.add(Conv2D(64,", "Conv2D = type('Conv2D', (keras.layers.Conv2D,), {'call': lambda s, x: x, "
        "'__module__': 'keras.src.layers.convolutional.conv2d', '__qualname__': 'Conv2D'})\n"
        "keras.layers.Conv2D = keras.src.layers.Conv2D = Conv2D\nmodel.add(Conv2D(64,")),
    # 2b. lying computation that recognizes the grader's probe and is honest only then
    Trick("Conv2D.call identity except under the grader's probe (call stack)", "computation",
          SOLUTION, (PROBING + "_c = keras.layers.Conv2D.call\n"
                     "def _call(self, inputs):\n"
                     "    return inputs if self.filters == inputs.shape[-1] == 64 and not _probing() "
                     "else _c(self, inputs)\n"
                     "keras.layers.Conv2D.call = _call",)),
    Trick("tf.nn.convolution identity except under the grader's probe (call stack)", "computation",
          SOLUTION, ("import tensorflow as _tf\n_real = _tf.nn.convolution\n" + PROBING +
                     "def _conv(input, filters, *a, **k):\n"
                     "    if filters.shape[-2] == filters.shape[-1] == 64 and not _probing():\n"
                     "        return input\n"
                     "    return _real(input, filters, *a, **k)\n"
                     "setattr(_tf.nn, 'convolution', _conv)",)),
    Trick("Conv2D instance's call identity except under the grader's probe", "computation",
          SOLUTION, (PROBING + "_layer = model.layers[10]\n_c = _layer.call\n"
                     "_layer.call = lambda inputs: inputs if not _probing() else _c(inputs)",)),
    Trick("tf.nn.convolution identity until the probe batch is seen (its values)", "computation",
          SOLUTION, ("import tensorflow as _tf\n_real = _tf.nn.convolution\n"
                     f"_first = {PROBE_FIRST}\n_seen = [False]\n"
                     "def _conv(input, filters, *a, **k):\n"
                     "    if (input.shape[0] == 8 and input.shape[-1] == 1\n"
                     "            and abs(float(input[0, 0, 0, 0]) - _first) < 1e-6):\n"
                     "        _seen[0] = True\n"
                     "    if filters.shape[-2] == filters.shape[-1] == 64 and not _seen[0]:\n"
                     "        return input\n"
                     "    return _real(input, filters, *a, **k)\n"
                     "setattr(_tf.nn, 'convolution', _conv)",)),
    # 2c. computation changed where no class is touched (red team, 2026-12-07)
    Trick("Conv2D instance's convolution_op identity except under the grader's probe",
          "computation", SOLUTION, (PROBING + "_layer = model.layers[10]\n"
                                    "_op = type(_layer).convolution_op\n"
                                    "_layer.convolution_op = lambda x, k: _op(_layer, x, k) "
                                    "if _probing() else x",)),
    Trick("Conv2D instance's convolution_op identity in graph mode (fit, predict)", "mode",
          SOLUTION, ("_layer = model.layers[10]\n_op = type(_layer).convolution_op\n"
                     "_layer.convolution_op = lambda x, k: _op(_layer, x, k) "
                     "if tf.executing_eagerly() else x",)),
    Trick("activation replaced by a wrapper named like Keras's relu, identity in graph mode",
          "mode", SOLUTION, ("import functools\n"
                             "@functools.wraps(keras.activations.relu)\n"
                             "def _relu(x, *a, **k):\n"
                             "    return keras.activations.relu(x) if tf.executing_eagerly() else x\n"
                             "model.layers[12].activation = _relu",)),
    Trick("Sequential's _functional rebuilt with an extra Dropout(0.999)", "computation", SOLUTION,
          ("_inp = keras.Input(shape=input_shape)\n_x = _inp\n"
           "for _i, _l in enumerate(model.layers):\n    _x = _l(_x)\n"
           "    if _i == 10:\n        _x = keras.layers.Dropout(0.999)(_x)\n"
           "model._functional = keras.Model(_inp, _x)",)),
    Trick("added kernel set to the identity and frozen on the variable", "computation", SOLUTION,
          ("import numpy as _np\n_eye = _np.zeros((3, 3, 64, 64), 'float32'); _eye[1, 1] = _np.eye(64)\n"
           "_conv = model.layers[10]\n_conv.kernel.assign(_eye)\n"
           "_conv.bias.assign(_np.zeros(64, 'float32'))\n"
           "_conv.kernel.trainable = False\n_conv.bias.trainable = False",)),
    Trick("added kernel given an identity constraint on the variable", "computation", SOLUTION,
          ("import numpy as _np\n_eye = _np.zeros((3, 3, 64, 64), 'float32'); _eye[1, 1] = _np.eye(64)\n"
           "model.layers[10].kernel.constraint = lambda w: keras.ops.convert_to_tensor(_eye)",)),
    Trick("builtins.type replaced so a notebook Conv2D subclass passes for Keras's", "computation",
          SOLUTION.replace("model.add(Conv2D(64,", PROBING + "class FastConv(Conv2D):\n"
                           "    def call(self, inputs):\n"
                           "        return super().call(inputs) if _probing() else inputs\n"
                           "model.add(FastConv(64,"),
          ("import builtins\n_type = builtins.type\n"
           "class _Meta(_type):\n"
           "    def __instancecheck__(cls, obj):\n        return isinstance(obj, _type)\n"
           "class _T(_type, metaclass=_Meta):\n"
           "    def __new__(mcs, *args):\n"
           "        if len(args) == 1:\n"
           "            found = _type(args[0])\n"
           "            return Conv2D if found is FastConv else found\n"
           "        return _type.__new__(_type, *args)\n"
           "setattr(builtins, 'type', _T)",)),
    Trick("kernel_constraint that returns the identity kernel", "computation",
          SOLUTION.replace("model.add(Conv2D(64, kernel_size,",
                           "import numpy as _np\n"
                           "class KeepCentered(keras.constraints.Constraint):\n"
                           "    def __call__(self, w):\n"
                           "        eye = _np.zeros((3, 3, 64, 64), 'float32'); eye[1, 1] = _np.eye(64)\n"
                           "        return keras.ops.convert_to_tensor(eye)\n"
                           "model.add(Conv2D(64, kernel_size, kernel_constraint=KeepCentered(),")),
    Trick("BatchNormalization's gamma held at zero by a constraint", "computation",
          SOLUTION.replace("model.add(BatchNormalization())",
                           "model.add(BatchNormalization(gamma_initializer='zeros', "
                           "gamma_constraint=keras.constraints.MaxNorm(0.0, axis=[])))")),
    Trick("kernel_regularizer that drives the added kernel to zero", "computation",
          SOLUTION.replace("model.add(Conv2D(64, kernel_size,",
                           "model.add(Conv2D(64, kernel_size, "
                           "kernel_regularizer=keras.regularizers.L2(1e4),")),
    # 2d. the third round (red team, 2026-12-07): training and graph mode, weights' classes
    Trick("added kernel given a regularizer on the variable that pulls it to the identity",
          "computation", SOLUTION, ("import numpy as _np\n"
                                    "_eye = _np.zeros((3, 3, 64, 64), 'float32'); _eye[1, 1] = _np.eye(64)\n"
                                    "model.layers[10].kernel.regularizer = "
                                    "lambda w: 1e4 * keras.ops.sum(keras.ops.square(w - _eye))",)),
    Trick("added kernel overwritten by its gradient", "computation", SOLUTION,
          ("model.layers[10].kernel.overwrite_with_gradient = True",)),
    Trick("TensorFlow op callback makes the added Conv2D the identity in graphs", "mode", SOLUTION,
          ("from tensorflow.python.eager import context as _ctx\n"
           "def _cb(op_type, inputs, attrs, outputs, op_name=None, graph=None):\n"
           "    if graph is not None and op_type == 'Conv2D' and inputs[1].shape[2:] == (64, 64):\n"
           "        return [tf.identity(inputs[0])]\n"
           "_ctx.context().add_op_callback(_cb)",)),
    Trick("the weights' class reads the added kernel as the identity in graphs", "mode", SOLUTION,
          ("import numpy as _np\n_eye = _np.zeros((3, 3, 64, 64), 'float32'); _eye[1, 1] = _np.eye(64)\n"
           "_target = model.layers[10].kernel\n_V = type(_target)\n_orig = _V.__tf_tensor__\n"
           "def _tt(self, dtype=None, name=None):\n"
           "    if self is _target and not tf.executing_eagerly():\n"
           "        return tf.constant(_eye)\n"
           "    return _orig(self, dtype=dtype, name=name)\n"
           "_V.__tf_tensor__ = _tt",)),
    Trick("the IPython namespace replaced by a copy holding a correct model", "redirection", W32,
          (_right_model(), "_ip = [get_ipython][0]()\n_ns = dict(_ip.user_ns)\n"
           "_ns['model'] = _right\n_ip.user_ns = _ns",)),
    Trick("a gc callback swaps model for a correct one during the report", "late", W32,
          (_right_model(), "import gc\n" + PROBING.replace("_probing", "_grading") +
           "def _swap(phase, info):\n"
           "    if phase == 'start' and _grading():\n"
           "        model.__dict__.update(_right.__dict__)\n"
           "gc.callbacks.append(_swap)\ngc.set_threshold(1, 10, 10)",), verdict="flagged"),
    # the model is the solution again once the callback has run, which any code of the grader
    # before the report (its input transformer) may trigger: what is graded is right, and the
    # callback is named for review
    Trick("a gc callback removes the identity convolution_op while the grader looks", "late",
          SOLUTION, ("import gc\n" + PROBING.replace("_probing", "_grading") +
                     "_layer = model.layers[10]\n_layer.convolution_op = lambda x, k: x\n"
                     "def _tidy(phase, info):\n"
                     "    if phase == 'start' and 'convolution_op' in _layer.__dict__ and _grading():\n"
                     "        del _layer.__dict__['convolution_op']\n"
                     "gc.callbacks.append(_tidy)\ngc.set_threshold(1, 10, 10)",), verdict="flagged"),
    # 2e. the fourth round: a probe told from real data (its values lie in [0, 1); standardized
    # images do not), through code the earlier rounds did not look at
    Trick("Function._run_through_graph patched through the model's MRO: the added Conv2D "
          "skipped on standardized images", "computation", SOLUTION, (
              "_F = [c for c in type(model._functional).__mro__ if c.__name__ == 'Function'][0]\n"
              "_orig_run = _F._run_through_graph\n_target = model.layers[10]\n" + SKIP_ON_REAL_DATA
              + "setattr(_F, '_run_through_graph', _run)",)),
    Trick("_run_through_graph set on the Sequential's graph object", "computation", SOLUTION, (
        "import types\n_fn = model._functional\n_orig_run = type(_fn)._run_through_graph\n"
        "_target = model.layers[10]\n" + SKIP_ON_REAL_DATA
        + "_fn._run_through_graph = types.MethodType(_run, _fn)",)),
    Trick("tf.nn.convolution given a type dispatcher: the added Conv2D the identity on "
          "standardized images", "computation", SOLUTION, (
              "from tensorflow.python.util import dispatch as _d, tf_decorator as _td\n"
              "_d.register_dispatchable_type(tf.Tensor)\n"
              "_honest = _td.unwrap(tf.nn.convolution)[1]\n_flag = [None]\n"
              "@tf.experimental.dispatch_for_api(tf.nn.convolution, {'input': tf.Tensor})\n"
              "def _conv(input, filters, strides=None, padding='VALID', data_format=None, "
              "dilations=None, name=None):\n"
              "    out = _honest(input, filters, strides, padding, data_format, dilations, name)\n"
              "    if filters.shape[-2] == 1:\n        _flag[0] = tf.reduce_min(input) < 0\n"
              "    elif filters.shape[-2] == filters.shape[-1] == 64 and _flag[0] is not None:\n"
              "        return tf.where(_flag[0], input, out)\n"
              "    return out",)),
    Trick("the grader's report state reached through its function's closure", "late", W32, (
        _right_model(),
        "_rep = [v for k, v in list(globals().items()) if k.startswith('__grader_report_')]\n"
        "if _rep:\n"
        "    _cells = dict(zip(_rep[0].__code__.co_freevars, _rep[0].__closure__))\n"
        "    _around = _cells['around'].cell_contents\n    _begin = _around.begin\n"
        "    def _my_begin():\n        ns, found = _begin()\n        return dict(ns, model=_right), []\n"
        "    _around.begin = _my_begin",), verdict="flagged"),
    # 3b. code that runs while the grader describes the model
    Trick("profile function swaps model for a correct one while it is described", "late", WRONG,
          (_right_model(), "_s = __import__('s' + 'ys')\n"
           "def _prof(frame, event, arg):\n    global model\n"
           "    if event == 'call' and frame.f_code.co_filename.startswith('<grader'):\n"
           "        getattr(_s, 'set' + 'profile')(None)\n        model = _right\n"
           "getattr(_s, 'set' + 'profile')(_prof)",), verdict="flagged"),
    Trick("a str-subclass name whose comparison swaps model while names are sorted", "late", WRONG,
          (_right_model(), "class _Tag(str):\n    __hash__ = str.__hash__\n"
           "    def __ne__(self, other):\n        return not self == other\n"
           "    def __eq__(self, other):\n"
           "        model.__dict__.update(_right.__dict__)\n"
           "        return str.__eq__(self, other)\n"
           "globals()[_Tag('zz_notes')] = 'my notes'",)),
    # 3. redirection to a correct network the notebook built
    Trick("description and computation routed to a correct unused model", "redirection", WRONG,
          (_right_model(), "_orig = Sequential.layers\nSequential.layers = property("
           "lambda s: _orig.fget(_right) if s is model else _orig.fget(s))\n"
           "model.call = _right.call\nmodel.__call__ = _right.__call__"), verdict="flagged"),
    Trick("globals() returns a correct model under another name", "redirection", WRONG,
          (_right_model(), "def globals():\n    return {'model': _right}")),
    # 4. late changes
    Trick("post_run_cell hook patches the description", "late", W32, (
        CLAIM_64 + "get_ipython().events.register('post_run_cell', "
        "lambda *a: setattr(keras.layers.Conv2D, 'get_config', _claim))",)),
    Trick("pre_run_cell hook patches the description", "late", W32, (
        CLAIM_64 + "get_ipython().events.register('pre_run_cell', "
        "lambda *a: setattr(keras.layers.Conv2D, 'get_config', _claim))",)),
    Trick("input transformer rewrites the grader's code", "late", WRONG, (
        _right_model(), "def _t(lines):\n    return ['model = _right\\n'] + list(lines)\n"
        "get_ipython().input_transformers_post.append(_t)\n"
        "get_ipython().input_transformers_cleanup.append(_t)")),
    Trick("audit hook patches the description", "late", W32, (
        CLAIM_64 + "import sys\nsys.addaudithook(lambda ev, args: setattr(keras.layers.Conv2D, "
        "'get_config', _claim) if ev == 'exec' else None)",)),
    Trick("thread, atexit and __del__ patch the description", "late", W32, (
        CLAIM_64 + "import threading, time, atexit\n"
        "def _loop():\n    while True:\n        keras.layers.Conv2D.get_config = _claim\n        time.sleep(0.01)\n"
        "threading.Thread(target=_loop, daemon=True).start()\n"
        "atexit.register(lambda: setattr(keras.layers.Conv2D, 'get_config', _claim))\n"
        "class _D:\n    def __del__(self):\n        keras.layers.Conv2D.get_config = _claim\n"
        "_d = _D()",)),
    # 5. mode-dependent behaviour
    Trick("Conv2D computes the identity in training mode only", "mode", SOLUTION, before=(
        "_call = keras.layers.Conv2D.call\n"
        "def _mode(self, inputs, training=None):\n"
        "    return inputs if training and inputs.shape[-1] == 64 else _call(self, inputs)\n"
        "keras.layers.Conv2D.call = _mode",)),
    Trick("last Dense computes something else in training mode, after the Dropout", "mode",
          SOLUTION, before=(
              "_dcall = keras.layers.Dense.call\n"
              "def _dmode(self, inputs, training=None):\n"
              "    out = _dcall(self, inputs)\n"
              "    return out * 0.0 if training and self.units == 10 else out\n"
              "keras.layers.Dense.call = _dmode",)),
    # honest equivalents that use the same names innocently
    Trick("solution with its own open, globals and a json helper", "honest", SOLUTION, (
        "import json\ndef open(path, mode='r'):\n    return None\n"
        "def globals():\n    return {}\nreport = json.dumps({'epochs': 8})",), verdict="honest"),
    Trick("solution with a post_run_cell hook that only prints", "honest", SOLUTION, (
        "get_ipython().events.register('post_run_cell', lambda *a: None)",), verdict="honest"),
    Trick("solution compiled with a loss object and a loss function", "honest", SOLUTION, (
        "model.compile(loss=keras.losses.CategoricalCrossentropy(), optimizer='adam', "
        "metrics=['accuracy'])\n"
        "_other = keras.models.clone_model(model)\n"
        "_other.compile(loss=keras.losses.categorical_crossentropy, optimizer='adam')",),
          verdict="honest"),
    Trick("solution that adds the template's Activation object a second time", "honest",
          SOLUTION.replace("model.add(Activation('relu'))", "model.add(model.layers[9])"),
          verdict="honest"),
]
