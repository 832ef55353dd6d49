"""Random-program testing of sourcead (Csmith-style), driven by hypothesis.

* ``generator``: random well-formed programs in the supported subset, written to files;
* ``oracles``: gradient vs finite differences, compile=True vs compile=False, primal
  value, inputs not mutated, jvp vs grad, hvp vs differences of grad and vmap vs grad
  where available;
* ``mutate``: bad-input fuzzing (unsupported constructs, wrong types, ...);
* ``runner``: quick and long runs with statistics; ``python -m tests.fuzz --minutes N``.
"""
