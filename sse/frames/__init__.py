"""Audio, frames and the formats on disk: reading audio, the front-ends (wav2vec 2.0, MFCC,
fbank), frame features and their store, the plain-text lists and the embedding dumps.

Imports only :mod:`sse.core` and :mod:`sse.defaults`."""
