"""``keras.preprocessing``: ``sequence.pad_sequences``, ``image`` array helpers and
``timeseries_dataset_from_array`` (the same functions as ``keras.utils``').

Example:
    >>> from tape.keras.preprocessing.sequence import pad_sequences
    >>> pad_sequences([[1, 2, 3]], maxlen=2).tolist()
    [[2, 3]]
"""

from .._reach import missing
from ..utils import timeseries_dataset_from_array
from . import image, sequence


def __getattr__(name):
    raise missing("keras.preprocessing", name, {
        "text": "the Keras 2 Tokenizer is gone from Keras 3 and from tape; tokenize with "
                "Python and map tokens to ids yourself"})
