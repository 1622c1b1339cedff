"""Keras 1/2 compatibility for the course's 2017 notebooks, run in the kernel of legacy notebooks.

The course's notebooks 07/08 were written for Keras 1.2: ``Convolution2D(32, 3, 3,
border_mode='same', init='he_normal')``, ``keras.layers.normalization``, ``fit(nb_epoch=)``,
``history.history['acc']``. Keras 3 rejects them, or worse reads them differently (its
``Convolution2D(32, 3, 3)`` is a 3x3 kernel with stride 3). The grader therefore detects legacy
notebooks from their source (``grader/legacy.py``) and, for those only, injects this file, which
maps exactly the surface the course uses by renaming arguments and patching names. It never
subclasses anything: the layers built are the plain Keras 3 classes and the model stays a
``keras.Sequential``/``keras.Model``, so extraction and checks are unchanged. Every mapping
used is recorded by name (:data:`MAPPINGS`, which the grader validates the kernel's list
against); a Keras 1/2 call outside the mapped surface raises :class:`LegacyKerasCall` naming
the call and its Keras 3 spelling.

The grader imports this module only for :data:`MAPPINGS`; ``install`` runs
in the kernel (and in unit tests, which undo it).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # IPython's builtin in the kernel this code runs in
    def get_ipython() -> Any: ...

#: mapping name (as reported) -> what it becomes in Keras 3
MAPPINGS = {
    "tf.set_random_seed": "tf.random.set_seed",
    "Convolution2D(nb_filter, nb_row, nb_col)": "Conv2D(filters, (nb_row, nb_col))",
    "Conv2D(filters, nb_row, nb_col)": "Conv2D(filters, (nb_row, nb_col))",
    "init=": "kernel_initializer=",
    "border_mode=": "padding=",
    "subsample=": "strides=",
    "output_dim=": "units=",
    "nb_filter=": "filters=",
    "Dropout(p=)": "Dropout(rate=)",
    "BatchNormalization(mode=0)": "BatchNormalization()",
    "batch_input_shape=": "input_shape= (without the batch dimension)",
    "keras.layers.normalization": "keras.layers",
    "keras.layers.convolutional": "keras.layers",
    "keras.layers.core": "keras.layers",
    "keras.layers.pooling": "keras.layers",
    "keras.utils.np_utils.to_categorical": "keras.utils.to_categorical",
    "to_categorical(nb_classes=)": "to_categorical(num_classes=)",
    "fit(nb_epoch=)": "fit(epochs=)",
    "fit(validation_data=[x, y])": "fit(validation_data=(x, y))",
    "history['acc']": "history['accuracy']",
    "history['val_acc']": "history['val_accuracy']",
    "TensorBoard(...)": "a callback that does nothing (no TensorBoard on the grading machine)",
    "predict_classes(x)": "np.argmax(model.predict(x), axis=-1)",
}

#: Keras 1/2 spellings the course does not use, refused with their Keras 3 spelling
UNMAPPED = {
    "W_regularizer": "kernel_regularizer=", "b_regularizer": "bias_regularizer=",
    "W_constraint": "kernel_constraint=", "b_constraint": "bias_constraint=",
    "dim_ordering": "data_format='channels_last' (or 'channels_first')",
    "bias": "use_bias=", "weights": "layer.set_weights(...) after building the model",
    "input_length": "keras.Input(shape=...) as the first layer", "nb_row": "kernel_size=(rows, cols)",
    "nb_col": "kernel_size=(rows, cols)", "Merge": "keras.layers.Concatenate() or keras.layers.Add()",
}

#: legacy argument -> Keras 3 argument (applied where the layer class takes the new name)
RENAMES = {"init": "kernel_initializer", "border_mode": "padding", "subsample": "strides",
           "output_dim": "units", "nb_filter": "filters", "p": "rate"}
LEGACY_MODULES = {"keras.layers.normalization": "layers", "keras.layers.convolutional": "layers",
                  "keras.layers.core": "layers", "keras.layers.pooling": "layers",
                  "keras.utils.np_utils": "utils"}
LAYER_CLASSES = ("Conv1D", "Conv2D", "Dense", "MaxPooling1D", "MaxPooling2D", "AveragePooling2D",
                 "Dropout", "BatchNormalization", "Activation", "Flatten")
ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy"}


class LegacyKerasCall(Exception):
    """A Keras 1/2 call the compatibility layer does not map (the message says the fix)."""


def refuse(call: str, spelling: str) -> LegacyKerasCall:
    return LegacyKerasCall(f"{call} is Keras 1/2 API outside the grader's compatibility layer; "
                           f"in Keras 3 write {spelling}")


class _Patcher:
    """Sets attributes (or ``sys.modules`` entries) and remembers the old values for ``undo``."""

    def __init__(self, modules):
        self.saved, self.modules = [], modules

    def set(self, obj, name, value):
        self.saved.append((obj, name, vars(obj).get(name, _ABSENT)))  # its own, not inherited
        setattr(obj, name, value)

    def set_module(self, name, module):
        self.saved.append((None, name, self.modules.get(name, _ABSENT)))
        self.modules[name] = module

    def undo(self):
        for obj, name, old in reversed(self.saved):
            if obj is None and old is _ABSENT:
                self.modules.pop(name, None)
            elif obj is None:
                self.modules[name] = old
            elif old is _ABSENT:
                delattr(obj, name)
            else:
                setattr(obj, name, old)
        self.saved.clear()


_ABSENT = object()


def install(keras, tf, record, sys_modules):
    """Patch ``keras``/``tf`` for legacy notebooks; ``record(name)`` is called with each
    :data:`MAPPINGS` name when it is used. Returns the function that undoes everything."""
    p = _Patcher(sys_modules)
    _layers(keras, record, p)
    p.set(keras.layers, "Convolution2D", _convolution2d(keras, record))
    p.set(tf, "set_random_seed", _seed(tf, record))
    p.set(keras.callbacks, "TensorBoard", _tensorboard(keras, record))
    p.set(keras.Sequential, "predict_classes", _predict_classes(record))
    _modules(keras, record, p)
    p.set(keras.Model, "fit", wrap_fit(keras.Model.fit, record))
    return p.undo


def _layers(keras, record, p):
    import inspect

    for name in LAYER_CLASSES:
        cls = getattr(keras.layers, name)
        accepted = set(inspect.signature(cls.__init__).parameters)
        p.set(cls, "__init__", _renaming_init(cls.__init__, name, accepted, record))
    p.set(keras.layers.Layer, "__init__", _checking_init(keras.layers.Layer.__init__, record))


def _renaming_init(init, class_name, accepted, record):
    def __init__(self, *args, **kwargs):
        if class_name == "Conv2D" and _legacy_kernel(args, kwargs):  # before border_mode= is renamed
            # Keras 1.2's alias of Convolution2D, and Keras 2's legacy reading of it: three
            # integers are filters and a rows x cols kernel (Keras 3 would take strides)
            args = (args[0], (args[1], args[2]))
            record("Conv2D(filters, nb_row, nb_col)")
        for old, new in RENAMES.items():
            if old in kwargs and new in accepted and new not in kwargs:
                kwargs[new] = kwargs.pop(old)
                record("Dropout(p=)" if old == "p" else f"{old}=")
        if class_name == "BatchNormalization" and "mode" in kwargs:
            if kwargs.pop("mode") != 0:
                raise refuse("BatchNormalization(mode=1 or 2)", "BatchNormalization() (mode 0)")
            record("BatchNormalization(mode=0)")
        init(self, *args, **kwargs)

    vars(__init__)["__grader_original__"] = init  # no __wrapped__: Keras reads the signature
    return __init__


def _legacy_kernel(args, kwargs):
    """``Conv2D(filters, rows, cols)`` as Keras 1/2 wrote it: three integers and nothing more.
    Keras 2 refused a fourth positional argument, and the three integers beside its own
    ``padding=``, ``strides=`` or ``data_format=`` (ambiguous: the third may be a stride);
    refused here the same way, naming the unambiguous spelling."""
    ints = [isinstance(a, int) and not isinstance(a, bool) for a in args[:3]]
    if len(args) < 3 or not all(ints):
        return False
    if len(args) > 3 or any(k in kwargs for k in ("padding", "strides", "data_format")):
        raise refuse("Conv2D(filters, rows, cols) with more positional arguments or with "
                     "padding=, strides= or data_format=",
                     "Conv2D(filters, (rows, cols), padding=..., strides=...) with keywords")
    return True


def _checking_init(init, record):
    """Every layer's leftover arguments: map ``batch_input_shape``, refuse other Keras 1 ones."""
    def __init__(self, *args, **kwargs):
        shape = kwargs.pop("batch_input_shape", None)
        if shape is not None:
            kwargs.setdefault("input_shape", tuple(shape)[1:])
            record("batch_input_shape=")
        for old in kwargs:
            if old in UNMAPPED:
                raise refuse(f"{type(self).__name__}({old}=...)", UNMAPPED[old])
            if old in RENAMES:
                raise refuse(f"{type(self).__name__}({old}=...)", f"{RENAMES[old]}= (if "
                             f"{type(self).__name__} takes it)")
        init(self, *args, **kwargs)

    vars(__init__)["__grader_original__"] = init  # no __wrapped__: Keras reads the signature
    return __init__


def _convolution2d(keras, record):
    def Convolution2D(nb_filter=None, nb_row=None, nb_col=None, *rest, **kwargs):
        """Keras 1: ``Convolution2D(nb_filter, nb_row, nb_col, ...)`` is a nb_row x nb_col kernel."""
        for old in kwargs:
            if old in UNMAPPED:
                raise refuse(f"Convolution2D({old}=...)", UNMAPPED[old])
        if isinstance(nb_row, (tuple, list)):  # Keras 2/3 spelling, Conv2D's own positional
            # arguments: Convolution2D(32, (3, 3), (2, 2), 'same') has strides (2, 2)
            more = () if nb_col is None and not rest else (nb_col, *rest)
            return keras.layers.Conv2D(nb_filter, nb_row, *more, **kwargs)
        if rest:
            raise refuse("Convolution2D with more than 3 positional arguments",
                         "Conv2D(filters, (rows, cols), padding=..., strides=...) with keywords")
        if nb_filter is None:  # Keras 2 spelling: Convolution2D(filters=32, ...)
            nb_filter = kwargs.pop("filters", None)
        if nb_row is not None and nb_col is None:
            kernel = nb_row  # Keras 2 spelling: Convolution2D(32, 3)
        elif nb_row is not None:
            kernel = (nb_row, nb_col)
            record("Convolution2D(nb_filter, nb_row, nb_col)")
        else:
            kernel = kwargs.pop("kernel_size", None)
        return keras.layers.Conv2D(nb_filter, kernel, **kwargs)

    return Convolution2D


def _seed(tf, record):
    def set_random_seed(seed):
        record("tf.set_random_seed")
        return tf.random.set_seed(seed)

    return set_random_seed


def _tensorboard(keras, record):
    def TensorBoard(*args, **kwargs):
        """The grader skips the notebook's training and has no TensorBoard: nothing to log."""
        record("TensorBoard(...)")
        return keras.callbacks.Callback()

    return TensorBoard


def _predict_classes(record):
    def predict_classes(self, x, *args, **kwargs):
        import numpy as np

        record("predict_classes(x)")
        return np.argmax(self.predict(x, *args, **kwargs), axis=-1)

    return predict_classes


def _to_categorical(keras, record):
    def to_categorical(y, nb_classes=None, num_classes=None, **kwargs):
        record("keras.utils.np_utils.to_categorical")
        if nb_classes is not None:
            record("to_categorical(nb_classes=)")
        return keras.utils.to_categorical(y, num_classes or nb_classes, **kwargs)

    return to_categorical


def _modules(keras, record, p):
    """``keras.layers.normalization`` & co.: modules whose names resolve to Keras 3's."""
    import types

    for dotted, home in LEGACY_MODULES.items():
        module = types.ModuleType(dotted, f"Keras 2 path mapped onto keras.{home}")
        vars(module)["__getattr__"] = _module_getattr(keras, dotted, home, record)
        p.set(getattr(keras, home), dotted.rsplit(".", 1)[1], module)
        p.set_module(dotted, module)


def _module_getattr(keras, dotted, home, record):
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        if dotted == "keras.utils.np_utils" and name == "to_categorical":
            return _to_categorical(keras, record)
        target = getattr(getattr(keras, home), name, None)
        if target is None or name in UNMAPPED:
            raise refuse(f"{dotted}.{name}", UNMAPPED.get(name, f"the Keras 3 name from keras.{home}"))
        record(dotted)
        return target

    return __getattr__


class LegacyHistory(dict):
    """``history['acc']`` reads ``history['accuracy']``, as Keras 1 named it."""

    #: where a use of an old name is recorded, and the original history's ``__missing__``
    _record: Any
    _fallback: Any = None

    def __missing__(self, key):
        alias = ALIASES.get(key)
        if alias is not None and alias in self:
            self._record(f"history['{key}']")
            return self[alias]
        fallback = getattr(self, "_fallback", None)
        if fallback is not None:
            return fallback(key)
        raise KeyError(key)


def wrap_fit(fit, record):
    """``fit(nb_epoch=)`` and a list as ``validation_data``; ``acc`` keys in the history."""
    if getattr(fit, "__grader_compat__", False):
        return fit

    def legacy_fit(self, *args, **kwargs):
        if "nb_epoch" in kwargs:
            kwargs.setdefault("epochs", kwargs.pop("nb_epoch"))
            record("fit(nb_epoch=)")
        if isinstance(kwargs.get("validation_data"), list):
            kwargs["validation_data"] = tuple(kwargs["validation_data"])
            record("fit(validation_data=[x, y])")
        history = fit(self, *args, **kwargs)
        curves = getattr(history, "history", None)
        if isinstance(curves, dict) and not isinstance(curves, LegacyHistory):
            wrapped = LegacyHistory(curves)
            wrapped._record = record
            wrapped._fallback = getattr(curves, "__missing__", None)
            history.history = wrapped
        return history

    vars(legacy_fit).update(__grader_compat__=True, __wrapped__=fit,
                            __grader_capped__=getattr(fit, "__grader_capped__", False))
    return legacy_fit


def __grader_compat(ledger):
    """In the kernel: import Keras (legacy notebooks seed TensorFlow in their first cell),
    install, and keep the compatibility ``fit`` outermost, over the prelude's patch."""
    import sys

    import keras
    import tensorflow as tf

    def record(name):
        if name in MAPPINGS and name not in ledger.compat:
            ledger.compat.append(name)

    install(keras, tf, record, sys.modules)

    def outermost(*_):
        keras.Model.fit = wrap_fit(keras.Model.fit, record)

    get_ipython().events.register("pre_run_cell", outermost)
