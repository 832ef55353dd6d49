"""What ``sourcead build`` builds: one function, its argument types and the options."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api.batched import DEFAULT_CHECKPOINT_EVERY
from ..pipeline import loading


@dataclass
class Target:
    """One function to differentiate, as named on the command line."""

    spec: str  # "MODULE:FUNCTION" as given (recorded in the header)
    function: object  # the Python function
    wrt: tuple[str, ...]
    types: list = field(default_factory=list)  # argument types, one per parameter
    mode: str = "reverse"
    vmap: str | None = None  # batched build: "cpu", "parallel" or "cuda" (build_batched)
    in_axes: tuple = ()  # with vmap: 0 or None per parameter
    checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY  # with vmap "cuda", as vmap's
    kernel: bool = False  # the adjoint of a numba.cuda kernel (build_kernels)
    consume: bool = True  # with kernel: whether the adjoint consumes the output cotangents
    kernel_params: list = field(default_factory=list)  # with kernel: its parameters
    kernel_files: list = field(default_factory=list)  # with kernel: its and its callees' files
    loaded: dict = field(default_factory=dict)  # with kernel: it and its callees, loaded

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def params(self) -> list[str]:
        if self.kernel:
            return list(self.kernel_params)
        return list(loading.LOADED[self.function].parsed.params)
