"""NumPyNet: a 784-128-10 MLP in plain NumPy, built one exercise at a time.

The exercise API (tests and the grader use exactly these names)::

    Parameter, Module, Sequential          containers       (module.py)
    Linear, ReLU, MLP                      layers           (layers.py)
    softmax, log_softmax, one_hot          functions        (functional.py)
    CrossEntropyLoss                       the loss         (loss.py)
    SGD, RMSProp                           optimisers       (optim.py)
    DataLoader                             mini-batches     (data.py)
    numerical_gradient                     gradient checks  (gradcheck.py)
    train_epoch, evaluate                  the loop         (loop.py)
    load_mnist                             the data set     (mnist.py)
"""

from .data import DataLoader
from .functional import log_softmax, one_hot, softmax
from .gradcheck import numerical_gradient
from .layers import MLP, Linear, ReLU
from .loop import evaluate, train_epoch
from .loss import CrossEntropyLoss
from .mnist import load_mnist
from .module import Module, Parameter, Sequential
from .optim import SGD, Optimizer, RMSProp

__all__ = [
    "MLP",
    "SGD",
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
]
