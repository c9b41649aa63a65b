"""numpynet, written independently from the API contract (see ../README.md)."""

from .beyond import Adam, AdamW, EarlyStopping, validate
from .maths import CrossEntropyLoss, log_softmax, numerical_gradient, one_hot, softmax
from .nets import MLP, Dropout, Linear, Module, Parameter, ReLU, Sequential
from .training import SGD, DataLoader, Optimizer, RMSProp, evaluate, load_mnist, train_epoch

__all__ = [
    "MLP",
    "Adam",
    "AdamW",
    "Dropout",
    "EarlyStopping",
    "validate",
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
