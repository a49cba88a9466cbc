"""The paper's method: candidate segments, the encoder, NT-Xent, stage-1 augmentation, how each
stage draws its pairs, and k-NN pair mining (docs/method.md).

Imports only :mod:`sse.frames`, :mod:`sse.core` and :mod:`sse.defaults`; fairseq is not needed."""
