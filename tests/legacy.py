"""Notebooks written the way a 2017 student of the course wrote them: Keras 1.2 API, TensorBoard,
``history['acc']``. Our own text in the course's style (the course's files are not copied); the
model cell has the same layers as the reference, spelled the Keras 1 way."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

IMPORTS = """\
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
tf.set_random_seed(1)

from keras.models import Sequential
from keras.layers import Dense, Activation, Dropout, Flatten
from keras.layers import Convolution2D, MaxPooling2D
from keras.layers.normalization import BatchNormalization
from keras.utils import np_utils
import keras
import sys, gzip
try:
    import cPickle as pickle  # python 2
except ImportError:
    import pickle
print("Keras {} TF {}".format(keras.__version__, tf.__version__))"""

LOAD = """\
with gzip.open('mnist_4000.pkl.gz', 'rb') as f:
    if sys.version_info.major > 2:
        (X, y) = pickle.load(f, encoding='latin1')
    else:
        (X, y) = pickle.load(f)
print(X.shape, y.shape)"""

PREPARE = """\
X_train = np.reshape(X[0:2400], (2400, 28, 28, 1))
X_val = np.reshape(X[2400:3000], (600, 28, 28, 1))
Y_train = np_utils.to_categorical(y[0:2400], nb_classes=10)
Y_val = np_utils.to_categorical(y[2400:3000], nb_classes=10)
X_mean, X_std = np.mean(X_train), np.std(X_train)
X_train = (X_train - X_mean) / (X_std + 0.0001)
X_val = (X_val - X_mean) / (X_std + 0.0001)"""

HYPER = """\
batch_size = 128
nb_classes = 10
nb_epoch = 8
kernel_size = (3, 3)
input_shape = (28, 28, 1)
pool_size = (2, 2)"""

MODEL_HEAD = """\
name = 'cnn2'
model = Sequential()
model.add(Convolution2D(32, kernel_size[0], kernel_size[1], init='he_normal',
                        border_mode='same', input_shape=input_shape))
model.add(keras.layers.normalization.BatchNormalization())
model.add(Activation('relu'))
model.add(Convolution2D(32, kernel_size[0], kernel_size[1], init='he_normal', border_mode='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=pool_size))
model.add(Convolution2D(64, kernel_size[0], kernel_size[1], init='he_normal', border_mode='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))

# here is your code coming:
"""

MODEL_TAIL = """
# end of your code

model.add(Flatten())
model.add(Dense(200, init='he_normal'))
model.add(BatchNormalization())
model.add(Dropout(0.3))
model.add(Activation('relu'))
model.add(Dense(nb_classes, init='he_normal'))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])"""

FIT = """\
tensorboard = keras.callbacks.TensorBoard(log_dir='tensorboard/' + name + '/',
                                          write_graph=True, histogram_freq=1)
history = model.fit(X_train, Y_train, batch_size=batch_size, nb_epoch=nb_epoch, verbose=1,
                    validation_data=[X_val, Y_val], callbacks=[tensorboard])"""

PLOTS = """\
plt.plot(history.history['acc'])
plt.plot(history.history['val_acc'])
plt.plot(history.history['loss'])
plt.legend(['train', 'valid', 'loss'])
plt.show()
print(model.predict_classes(X_val[0:5]))"""

SOLUTION = """\
model.add(Convolution2D(64, kernel_size[0], kernel_size[1], init='he_normal', border_mode='same'))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=pool_size))
"""

NO_PADDING = SOLUTION.replace(", border_mode='same'", "")
#: a Keras 1 argument the compatibility layer does not map (the course never used it)
UNMAPPED = SOLUTION.replace("border_mode='same'", "border_mode='same', W_regularizer=None")


def notebook(student_code: str = "\n") -> nbformat.NotebookNode:
    """The 2017-style cnn2 notebook with ``student_code`` between the markers."""
    cells = [new_markdown_cell("# cnn2 on MNIST (Keras 1 style)\n\nAdd the missing layers."),
             *[new_code_cell(c) for c in (IMPORTS, LOAD, PREPARE, HYPER,
                                          MODEL_HEAD + student_code + MODEL_TAIL,
                                          "model.summary()", FIT, PLOTS)]]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python2", "display_name": "Python 2", "language": "python"}
    return nb
