"""What batched modules built ahead of time check before their compiled loop runs."""

from __future__ import annotations

__all__ = ["batch_size"]


def batch_size(what: str, batched: dict) -> int:
    """The common length of the batch axis of the arguments in ``batched`` (name -> value).

    ``what`` names the batched function in the errors: an argument without a batch axis, no
    batched argument at all, or batch axes of different lengths.
    """
    sizes = {}
    for name, value in batched.items():
        shape = getattr(value, "shape", None)
        if not shape:
            raise ValueError(
                f"{what}: argument {name} has in_axes=0 but is not an array with a batch axis; "
                "pass in_axes=None for it"
            )
        sizes[name] = shape[0]
    if not sizes:
        raise ValueError(f"{what}: in_axes maps no argument (all None)")
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name}: {size}" for name, size in sizes.items())
        raise ValueError(f"{what}: batch sizes differ ({listed})")
    return next(iter(sizes.values()))
