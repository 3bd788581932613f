"""Bidirectional LSTM on IMDB, after keras-io's examples/nlp/bidirectional_lstm_imdb.py:
Embedding, two stacked Bidirectional LSTMs and a sigmoid output.

Port: `import keras` -> `from tape import keras`; `from keras import layers` ->
`from tape.keras import layers`. Download -> local_data.imdb_load_data (same structure).
Fast settings: 320 reviews a side (whole batches of 32: one trace per epoch), maxlen
200 -> 20, epochs 2 -> 3 (fewer rows need more passes).
"""

from local_data import imdb_load_data

from tape import keras
from tape.keras import layers

max_features = 20000  # Only consider the top 20k words
maxlen = 20  # Only consider the first 20 words of each movie review

# Input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# Embed each integer in a 128-dimensional vector
x = layers.Embedding(max_features, 128)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(64))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

(x_train, y_train), (x_val, y_val) = imdb_load_data(num_words=max_features, n=640)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
# Use pad_sequence to standardize sequence length:
# this will truncate sequences longer than 20 words and zero-pad sequences shorter than 20.
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_data=(x_val, y_val))
