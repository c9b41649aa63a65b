"""NumPyNet: a 784-128-10 MLP in plain NumPy, built one exercise at a time.

The exercise API (tests and the grader use exactly these names)::

    Parameter, Module, Sequential          containers       (module.py)
    Linear, ReLU, Dropout, MLP             layers           (layers.py)
    softmax, log_softmax, one_hot          functions        (functional.py)
    CrossEntropyLoss                       the loss         (loss.py)
    SGD, RMSProp, Adam, AdamW              optimisers       (optim.py)
    DataLoader                             mini-batches     (data.py)
    numerical_gradient                     gradient checks  (gradcheck.py)
    train_epoch, evaluate, validate        the loop         (loop.py)
    EarlyStopping                          best epoch       (loop.py)
    load_mnist                             the data set     (mnist.py)
"""

from .data import DataLoader
from .functional import log_softmax, one_hot, softmax
from .gradcheck import numerical_gradient
from .layers import MLP, Dropout, Linear, ReLU
from .loop import EarlyStopping, evaluate, train_epoch, validate
from .loss import CrossEntropyLoss
from .mnist import load_mnist
from .module import Module, Parameter, Sequential
from .optim import SGD, Adam, AdamW, Optimizer, RMSProp

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "AdamW",
    "Dropout",
    "EarlyStopping",
    "CrossEntropyLoss",
    "DataLoader",
    "Linear",
    "Module",
    "Optimizer",
    "Parameter",
    "RMSProp",
    "ReLU",
    "Sequential",
    "evaluate",
    "load_mnist",
    "log_softmax",
    "numerical_gradient",
    "one_hot",
    "softmax",
    "train_epoch",
    "validate",
]
