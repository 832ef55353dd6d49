"""The command line: ``sourcead show``, ``sourcead build``, ``sourcead cache``.

    sourcead show examples/angry_birds.py:miss --wrt vx,vy      # print the generated code
    sourcead build mypkg.sim:loss --wrt 0,1 -o mypkg/derivatives # write standalone modules
    sourcead build mypkg.sim:loss --wrt 0,1 -o mypkg/derivatives --check   # for CI
    sourcead cache info | clear | native                         # the persistent cache

Errors in the user's code are reported like a Python traceback entry (file, line, the line
itself, message); ``--debug`` shows sourcead's own stack as well.
"""

from __future__ import annotations

import argparse
import linecache
import os
import sys
import sysconfig
import time
import traceback
from pathlib import Path

from ..cache import modules as cache
from ..cache import records as native_cache
from ..errors import SourceADError
from ..version import __version__

TYPES_HELP = (
    "argument types, as name:type pairs separated by commas, e.g. "
    '"x:float64,n:int,u:float64[:],A:float32[:, :]" (scalars: float, int, bool, complex, or a '
    "NumPy dtype name; arrays: a dtype and one ':' per dimension). Parameters not named keep "
    "the default: a float64 array where the function indexes the parameter, float64 elsewhere"
)
TARGET_HELP = (
    "MODULE:FUNCTION[,FUNCTION...]: MODULE is a dotted module name or a path to a .py file; "
    "FUNCTION is a function or a sourcead.grad(...) object (then its wrt is used). MODULE alone "
    "means every sourcead.grad(...) object at the module's top level"
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except SourceADError as exc:
        if args.debug:
            raise
        _report_user_error(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # the user's module failed to import, or bad options
        if args.debug:
            raise
        _report_plain_error(exc)
        return 1


# --- the parser ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sourcead",
        description="Source-transformation automatic differentiation: show, build and cache "
        "generated derivative code.",
    )
    parser.add_argument("--version", action="version", version=f"sourcead {__version__}")
    verbs = parser.add_subparsers(dest="verb", title="commands", metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--wrt",
        help="arguments to differentiate with respect to, by name or index, comma-separated "
        "(default: those of a sourcead.grad object, else the first argument)",
    )
    common.add_argument("--types", help=TYPES_HELP)
    common.add_argument(
        "--mode",
        choices=("reverse", "forward", "hessian"),
        default="reverse",
        help="reverse (adjoint, the default), forward (tangent) or hessian",
    )
    common.add_argument("--debug", action="store_true", help="show sourcead's own stack on errors")

    show = verbs.add_parser(
        "show",
        parents=[common],
        help="print the generated code of a derivative",
        description="Print the generated module of a derivative (coloured on a terminal).",
    )
    show.add_argument("target", metavar="MODULE:FUNCTION", help=TARGET_HELP)
    show.add_argument(
        "--compile-check",
        action="store_true",
        help="also compile the generated code with Numba for the argument types",
    )
    show.add_argument(
        "--stage",
        metavar="NAME",
        help="print the program after one pass instead: parsed, array syntax, checked, "
        "normalized, typed (types as comments), then the mode's passes (reverse: views, promoted, "
        "solver calls, indexed, jvp calls, fused, lowered) and the generated adjoint or tangent",
    )
    show.add_argument(
        "--timings",
        action="store_true",
        help="generate and compile the derivative, and print the time of each stage "
        "(sourcead's passes, Numba's typing, lowering and LLVM) instead of the code",
    )
    show.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the code (auto: when writing to a terminal and Pygments is installed)",
    )
    show.set_defaults(run=_show)

    build = verbs.add_parser(
        "build",
        parents=[common],
        help="write standalone derivative modules (or --check them)",
        description="Write each derivative as a standalone module that imports only math, "
        "numpy, numba and sourcead_runtime, with @numba.njit(cache=True) (for CUDA targets "
        "@cuda.jit) on every compiled function. "
        "With --check, write nothing and exit with status 1 when a built module no longer "
        "matches its source.",
    )
    build.add_argument("targets", nargs="+", metavar="MODULE[:FUNCTION]", help=TARGET_HELP)
    build.add_argument("-o", "--outdir", required=True, help="directory for the built modules")
    build.add_argument(
        "--check",
        action="store_true",
        help="compare the built modules with their sources; exit 1 if any is stale or missing",
    )
    build.add_argument(
        "--vmap",
        choices=("cpu", "parallel", "cuda"),
        help="write the batched value and gradient, as sourcead.vmap(value_and_grad(f)) "
        "compiles it: a loop over the batch (cpu), a numba.prange loop (parallel) or a CUDA "
        "kernel with one thread per element (cuda)",
    )
    build.add_argument(
        "--in-axes",
        metavar="AXES",
        help="with --vmap: 0 (batched along the first axis) or None (passed whole) per "
        "argument, comma-separated (default: all 0)",
    )
    build.add_argument(
        "--checkpoint-every",
        metavar="STEPS",
        help="with --vmap cuda: reverse counted loops in segments of STEPS steps, as "
        "vmap's checkpoint_every (default 8), or none to record every step",
    )
    build.add_argument(
        "--kernel-vjp",
        action="store_true",
        help="FUNCTION is a numba.cuda-style kernel: write its adjoint kernel, as "
        "sourcead.kernel_vjp compiles it, with a launch object NAME_vjp; --wrt names the "
        "arrays it writes and those it reads to differentiate",
    )
    build.add_argument(
        "--keep-cotangents",
        action="store_true",
        help="with --kernel-vjp: leave the output shadows as they came (kernel_vjp's "
        "consume=False)",
    )
    build.add_argument(
        "--native",
        action="store_true",
        help="also compile each module's entry ahead of time (numba.pycc, needs a C compiler) "
        "into an extension, called through NAME_native.py, which imports with NumPy only",
    )
    build.add_argument(
        "--target-cpu",
        default="",
        metavar="CPU",
        help="with --native: the CPU to compile for: the architecture's generic CPU by default "
        "(runs on any machine of this architecture), 'host' for this machine's, or an LLVM "
        "CPU name such as skylake-avx512",
    )
    build.set_defaults(run=_build)

    cache = verbs.add_parser(
        "cache",
        help="show or clear the persistent cache of generated code",
        description="The persistent cache ($SOURCEAD_CACHE_DIR, or the user cache directory) "
        "holds the modules generated by grad() at run time, and Numba's machine code for them; "
        "its native tier (`cache native`) holds gradients compiled into extension modules, which "
        "a later grad() calls without importing Numba or the compiler.",
    )
    cache.add_argument(
        "action",
        choices=("info", "clear", "native"),
        help="info: where and how much; clear: empty it; native: compile the cached gradients "
        "into extension modules, so that later processes call them without Numba",
    )
    cache.add_argument(
        "--target-cpu",
        default="",
        metavar="CPU",
        help="with native: the CPU to compile for (as for build --native)",
    )
    cache.add_argument("--debug", action="store_true", help="show sourcead's own stack on errors")
    cache.set_defaults(run=_cache)
    return parser


# --- verbs ------------------------------------------------------------------------------------
def _show(args) -> int:
    if args.timings:
        return _show_timings(args)
    from . import build  # imports the compiler and Numba: only for the commands that need them

    targets = build.resolve_targets([args.target], args.wrt, args.types, args.mode)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    if args.stage:
        from ..pipeline import stages

        if args.mode == "hessian" or any(t.vmap or t.kernel for t in targets):
            raise ValueError("--stage shows the stages of reverse and forward mode")
        for target in targets:
            text = stages.stage_source(
                target.function, target.types, list(target.wrt), target.mode, args.stage
            )
            sys.stdout.write(_highlight(text) if color else text)
        return 0
    for number, target in enumerate(targets):
        source, namespace, header = build.generate(target)
        if number:
            print(f"\n# {'-' * 76}\n# {target.spec}\n")
        sys.stdout.write(_highlight(source) if color else source)
        if args.compile_check:
            elapsed, signature = _compile_check(source, namespace, header, target)
            print(
                f"# compile check: {header['entry']}{signature} compiled by Numba in {elapsed:.2f} s"
            )
    return 0


def _show_timings(args) -> int:
    """Generate and compile each target's derivative; print its breakdown per stage."""
    from ..backends.cpu import progress, timings
    from ..pipeline import loading

    if args.stage:
        raise ValueError("--timings times the whole pipeline; use it without --stage")
    with timings.collecting() as found:  # the breakdowns of what compiles meanwhile
        from . import build

        targets = build.resolve_targets([args.target], args.wrt, args.types, args.mode)
        for number, target in enumerate(targets):
            source, namespace, header = build.generate(target)
            what = {"reverse": "the adjoint", "forward": "the tangent"}.get(
                target.mode, "the second derivatives"
            )
            progress.describe(header["entry"], what, loading.load(target.function).parsed)
            _compile_check(source, namespace, header, target)
            if number:
                print()
            for breakdown in found:
                print(breakdown.table())
            found.clear()
    return 0


def _build(args) -> int:
    from . import build  # imports the compiler and Numba: only for the commands that need them

    if args.native and (args.vmap or args.kernel_vjp):
        raise ValueError("--native compiles CPU entries; build --vmap and --kernel-vjp without it")
    if args.kernel_vjp and args.vmap:
        raise ValueError("--kernel-vjp and --vmap build different things; choose one")
    if args.keep_cotangents and not args.kernel_vjp:
        raise ValueError("--keep-cotangents goes with --kernel-vjp")
    targets = build.resolve_targets(
        args.targets,
        args.wrt,
        args.types,
        args.mode,
        args.vmap,
        args.in_axes,
        kernel=args.kernel_vjp,
        consume=not args.keep_cotangents,
        checkpoint_every=args.checkpoint_every,
    )
    outdir = Path(args.outdir)
    names = [build.output_path(outdir, t) for t in targets]
    if len(set(names)) != len(names):
        clash = next(n for n in names if names.count(n) > 1)
        both = " and ".join(t.spec for t, n in zip(targets, names, strict=True) if n == clash)
        raise ValueError(
            f"{both} would both write {clash.name}; build them into separate -o directories"
        )
    if args.target_cpu and not args.native:
        raise ValueError("--target-cpu goes with --native")
    if args.check:
        checked = build.check_native if args.native else build.check
        stale = [problem for t in targets if (problem := checked(t, outdir))]
        for problem in stale:
            print(f"stale: {problem}", file=sys.stderr)
        if not stale:
            print(f"{len(targets)} built module(s) in {outdir} match their sources")
        return 1 if stale else 0
    from ..backends.cpu import progress

    for number, target in enumerate(targets, 1):
        # one line per module before its work starts (a native build compiles for minutes)
        progress.logger.info("building %d/%d: %s ...", number, len(targets), target.spec)
        started = time.perf_counter()
        if args.native:
            path, extension, wrapper = build.write_native(target, outdir, args.target_cpu)
        else:
            path = build.write(target, outdir)
        seconds = time.perf_counter() - started
        print(f"wrote {path}  ({target.spec}, {target.mode} wrt {', '.join(target.wrt)})")
        if args.native:
            print(f"wrote {extension} and {wrapper}  (compiled; imports with NumPy only)")
        progress.logger.info(
            "built %d/%d: %s in %.1f s", number, len(targets), target.spec, seconds
        )
        foreign = build.foreign_imports(path.read_text(encoding="utf-8"))
        if foreign:
            print(
                f"  note: it imports {', '.join(foreign)} besides math, numpy, numba and "
                "sourcead_runtime; install those where it runs",
                file=sys.stderr,
            )
    return 0


def _cache(args) -> int:

    if args.action == "clear":
        print(f"removed {cache.clear()} generated module(s) from {cache.cache_dir()}")
        return 0
    if args.target_cpu and args.action != "native":
        raise ValueError("--target-cpu goes with `cache native`")
    if args.action == "native":
        return _cache_native(args.target_cpu)
    entries = cache.entries()
    size = (
        sum(f.stat().st_size for f in cache.cache_dir().rglob("*") if f.is_file()) if entries else 0
    )
    unusable = cache.unusable_reason(cache.cache_dir())
    if not cache.enabled():
        state = "off (SOURCEAD_CACHE=0)"
    elif unusable is not None:
        state = f"on, but not used: {unusable}"
    else:
        state = "on"
    print(f"cache directory: {cache.cache_dir()}  [{state}]")
    print(f"{len(entries)} generated module(s), {size / 1024:.0f} KiB with Numba's machine code")
    compiled = native_cache.compiled_count()
    print(f"native tier: {compiled} gradient(s) compiled (`sourcead cache native` adds the others)")
    return 0


def _cache_native(target_cpu: str) -> int:
    """Compile the recorded gradients into the native tier; 1 when one failed to compile."""

    from . import native_tier  # imports Numba: only for this command

    outcomes = native_tier.compile_recorded(target_cpu)
    for what, outcome in outcomes:
        print(f"{what}: {outcome}")
    failed = sum(outcome.startswith("not compiled") for _, outcome in outcomes)
    compiled = sum(outcome == "compiled" for _, outcome in outcomes)
    print(
        f"native tier in {native_cache.native_dir()}: {compiled} compiled now, "
        f"{native_cache.compiled_count()} in all"
        + ("" if outcomes else " (grad() records the gradients it caches; run your program first)")
        + ("" if cache.enabled() else "; the cache is off (SOURCEAD_CACHE=0)")
    )
    return 1 if failed else 0


# --- helpers ---------------------------------------------------------------------------------
def _compile_check(source: str, namespace: dict, header: dict, target) -> tuple[float, str]:
    """Compile the generated module's entry with Numba for the target's argument types."""
    import numba

    from ..backends.cpu.loading import load_module
    from . import native

    signature = tuple(native.numba_type(t) for t in native.entry_types(target, header))
    scope = load_module(source, namespace, f"sourcead_check.{target.name}", True)
    start = time.perf_counter()
    shown = "(" + ", ".join(str(t) for t in signature) + ")"
    try:
        scope[header["entry"]].compile(signature)
    except numba.core.errors.NumbaError as exc:
        raise ValueError(
            f"Numba cannot compile {header['entry']}{shown}: {native.numba_message(exc)}"
            " (are the argument types right? give them with --types)"
        ) from None
    return time.perf_counter() - start, shown


def _highlight(source: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # colour is optional
        return source
    return highlight(source, PythonLexer(), TerminalFormatter())


def _report_user_error(exc: SourceADError) -> None:
    """Like Python's traceback entry: where, the offending line, then the message."""
    lines = []
    if exc.filename is not None:
        where = f'  File "{exc.filename}"'
        if exc.lineno is not None:
            where += f", line {exc.lineno}"
        lines.append(where)
        text = linecache.getline(exc.filename, exc.lineno).strip() if exc.lineno else ""
        if text:
            lines.append(f"    {text}")
    lines.append(f"SourceADError: {exc.message}")
    print("\n".join(lines), file=sys.stderr)


def _report_plain_error(exc: BaseException) -> None:
    """The user's own frames (an error while importing their module), then the message."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    skipped = [package + os.sep]  # sourcead's own frames
    skipped += [sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")]
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not any(f.filename.startswith(path) for path in skipped)
        and not f.filename.startswith("<frozen")
    ]
    if frames:
        print("Traceback (most recent call last):", file=sys.stderr)
        print("".join(traceback.format_list(frames)), end="", file=sys.stderr)
    print(f"sourcead: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    if not isinstance(exc, ValueError | TypeError | OSError | ImportError):
        print("(run with --debug to see sourcead's own stack)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
