"""The cross-check's data: a fixed probe batch and what a model computes on it, as plain lists.

The same functions run on both sides of the cross-check: in the kernel (on the student's model,
with the numpy that Keras imported) and in the grader's verification worker (on the network
rebuilt from the description, ``grader.verify.crosscheck_worker``), so both compute the same
summaries of the same inputs. The probe comes from a pure-Python generator: nothing the notebook
seeded or patched (numpy's or Keras's random state) decides it. Plain, self-contained Python:
the kernel receives it as source text.
"""

PROBE_SEED = 20170417
PROBE_COUNT = 8
#: values kept of each output: a strided sample (a prime stride, so no channel is skipped)
SAMPLE = 2048
#: per-channel statistics kept of each output (the last axis)
CHANNELS = 1024
#: layers whose training-mode output is random: run in inference mode by the per-layer
#: training pass, and the model's own training-mode output is not compared when one is present
STOCHASTIC = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
              "GaussianNoise", "GaussianDropout", "AlphaDropout")


def probe_values(shape, count=PROBE_COUNT, seed=PROBE_SEED):
    """``count`` images of ``shape`` as a flat list of floats in [0, 1) (a 32-bit LCG)."""
    n = int(count)
    for d in shape:
        n *= int(d)
    state, out = seed & 0xFFFFFFFF, [0.0] * n
    for i in range(n):
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        out[i] = (state >> 8) / 16777216.0
    return out


def probe_batch(np, shape, count=None, seed=None):
    """The probe as a float32 array of ``(count, *shape)``; ``seed``: the runner's, drawn per
    run (``None``: the fixed one), so the notebook cannot know the probe's values in advance.
    Its size follows from the seed too (6 to 16 images), and its values span [-1, 3), as
    standardized images do (a probe of [0, 1) was told from real data by its sign alone)."""
    count = int(count or (PROBE_COUNT if seed is None else 6 + int(seed) % 11))
    values = np.asarray(probe_values(shape, count, PROBE_SEED if seed is None else int(seed)),
                        dtype="float32") * 4.0 - 1.0
    return values.reshape((count,) + tuple(int(d) for d in shape))


def _prime_at_least(k):
    k = max(2, int(k))
    while any(k % p == 0 for p in range(2, int(k ** 0.5) + 1)):
        k += 1
    return k


def summary(np, value):
    """Shape, a strided sample and per-channel mean and mean square of one output."""
    a = np.asarray(value, dtype="float64")
    flat = a.reshape(-1)
    step = 1 if flat.size <= SAMPLE else _prime_at_least(flat.size // SAMPLE)
    channels = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 and a.shape[-1] else a.reshape(-1, 1)
    return {"shape": [int(d) for d in a.shape], "sample": flat[::step][:SAMPLE].tolist(),
            "mean": channels.mean(axis=0)[:CHANNELS].tolist(),
            "square": (channels ** 2).mean(axis=0)[:CHANNELS].tolist()}


def per_layer(np, to_numpy, layers, x, training):
    """Each layer's output, layer after layer, as ``[[name, summary], ...]``. In training mode a
    stochastic layer (``Dropout``) runs in inference mode, on both sides alike: its output would
    be random, and every other layer is still compared in training mode."""
    out = []
    for layer in layers:
        x = layer(x, training=training and type(layer).__name__ not in STOCHASTIC)
        out.append([str(layer.name)[:200], summary(np, to_numpy(x))])
    return out


def outputs(np, to_numpy, model, layers, x, compiled=True):
    """What the cross-check compares, in a fixed order (training-mode calls change the
    BatchNormalization statistics, so they come last): the model's own call in inference and
    in training mode, and, when ``layers`` is given (a Sequential), each layer's output. Also
    ``compiled`` (in the kernel only: the rebuild's is its inference output): the model run as
    ``predict`` (and ``fit``) run it, in a traced graph (``predict_on_batch``), which the cross-check holds against the
    rebuild's inference output: code that computes one thing eagerly (the probe's calls) and
    another in a graph is caught there."""
    found = {"inference": summary(np, to_numpy(model(x, training=False)))}
    if compiled:
        # predict_on_batch runs the same traced predict function as predict and fit's graphs,
        # without predict's data pipeline: ~0.09 against ~0.19 CPU-s for cnn2 (2026-12-07)
        found["compiled"] = summary(np, to_numpy(model.predict_on_batch(x)))
    if layers is not None:
        found["layers_inference"] = per_layer(np, to_numpy, layers, x, False)
    found["training"] = summary(np, to_numpy(model(x, training=True)))
    if layers is not None:
        found["layers_training"] = per_layer(np, to_numpy, layers, x, True)
    return found
