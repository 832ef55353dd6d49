"""Random-program testing of sourcead (Csmith-style), driven by hypothesis.

* ``generator``: random well-formed programs in the supported subset, written to files:
  scalar code, element loops, module globals and constants of a second module;
* ``arrays``: the whole-array part of the generator (rows, slices, broadcasting, ``@``,
  reductions, ``np.prod`` at zeros, names rebound to arrays of other lengths);
* ``oracles``: gradient vs finite differences, compile=True vs compile=False, primal
  value, inputs not mutated, jvp vs grad, hvp vs differences of grad, vmap vs grad, and
  a new grad() after module globals or helpers are rebound;
* ``mutate``: bad-input fuzzing (unsupported constructs, wrong types, ...);
* ``runner``: quick and long runs with statistics; ``python -m tests.fuzz --minutes N``
  (seeded from the clock, ``--seed`` replays a run).
"""
