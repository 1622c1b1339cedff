"""The one allow-list of Keras layers: what the grader reads, and what the verifier rebuilds.

Each allowed Keras class names its canonical kind and the arguments read from its reported
config, each with a validator (``grader.layers.validators``); nothing else of a report is read.
The verification worker (``grader.verify.worker``) rebuilds a validated layer from the same
table (``builders``), so a layer kind or argument is added in one place, here.
"""
from __future__ import annotations

from grader.layers.validators import (
    activation,
    axis,
    boolean,
    channels_last,
    choice,
    initializer,
    integer,
    number,
    padding2d,
    pair,
    rate,
    shape,
    training_object,
)

#: what a layer's training does with its weights (regularizers, constraints): read only to tell
#: a layer that has one from the reference's, never rebuilt (``NOT_REBUILT``)
TRAINING_ONLY = {"kernel_regularizer": training_object, "bias_regularizer": training_object,
                 "activity_regularizer": training_object, "kernel_constraint": training_object,
                 "bias_constraint": training_object}
_BN_TRAINING = {f"{w}_{kind}": training_object for w in ("gamma", "beta")
                for kind in ("regularizer", "constraint")}
_CONV = {"filters": integer, "kernel_size": pair, "strides": pair, "padding": choice("valid", "same"),
         "dilation_rate": pair, "groups": lambda v: integer(v, 1, 1), "use_bias": boolean,
         "activation": activation, "data_format": channels_last,
         "kernel_initializer": initializer, **TRAINING_ONLY}
_POOL = {"pool_size": pair, "strides": lambda v: None if v is None else pair(v),
         "padding": choice("valid", "same"), "data_format": channels_last}

#: Keras class name -> (canonical kind, {argument: validator}); a ReLU, LeakyReLU or Softmax that
#: computes a plain activation is folded into ``Activation`` (``grader.layers.canonical``)
ALLOWED: dict[str, tuple[str, dict]] = {
    "InputLayer": ("InputLayer", {"batch_shape": shape, "batch_input_shape": shape}),
    "Conv2D": ("Conv2D", _CONV),
    "Dense": ("Dense", {"units": integer, "use_bias": boolean, "activation": activation,
                        "kernel_initializer": initializer, **TRAINING_ONLY}),
    "BatchNormalization": ("BatchNormalization", {"axis": axis, "center": boolean, "scale": boolean,
                                                  "momentum": number, "epsilon": number,
                                                  **_BN_TRAINING}),
    "Activation": ("Activation", {"activation": activation}),
    "ReLU": ("ReLU", {"max_value": lambda v: v if v is None else number(v),
                      "negative_slope": number, "threshold": number}),
    "Softmax": ("Activation", {"axis": axis}),
    "LeakyReLU": ("LeakyReLU", {"negative_slope": number}),
    "Dropout": ("Dropout", {"rate": rate}),
    "SpatialDropout2D": ("SpatialDropout2D", {"rate": rate}),
    "Flatten": ("Flatten", {"data_format": channels_last}),
    "MaxPooling2D": ("MaxPooling2D", _POOL),
    "AveragePooling2D": ("AveragePooling2D", _POOL),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", {"data_format": channels_last}),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", {"data_format": channels_last}),
    "Reshape": ("Reshape", {"target_shape": shape}),
    "ZeroPadding2D": ("ZeroPadding2D", {"padding": padding2d}),
}
#: arguments without which a layer's output cannot be computed (Keras always reports them)
REQUIRED = {"Conv2D": ("filters", "kernel_size"), "Dense": ("units",),
            "Reshape": ("target_shape",), "ZeroPadding2D": ("padding",)}
ALIASES = {"Convolution2D": "Conv2D", "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}
#: arguments read only to refuse other values (``channels_first``, grouped convolutions) or that
#: describe the input (built from the job's input shape): never passed to Keras when rebuilding
NOT_REBUILT = frozenset({"data_format", "groups", "batch_shape", "batch_input_shape",
                         *TRAINING_ONLY, *_BN_TRAINING})


def builders() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Canonical kind -> (Keras class, arguments passed through), for the verification worker.

    A kind is rebuilt by the Keras class of its own name with the arguments the allow-list
    reads for it; a class folded into another kind (``Softmax`` into ``Activation``) needs no
    builder of its own, and the input layer is built from the job's input shape.
    """
    return {kind: (kind, tuple(arg for arg in validators if arg not in NOT_REBUILT))
            for class_name, (kind, validators) in ALLOWED.items()
            if kind == class_name and kind != "InputLayer"}
