"""Whole-array code for the random programs: the constructs of docs/arrays.md.

A mixin of ``Generator``: array expressions of a requested shape, reductions to scalars,
row, column and slice writes (also reading the array they write), broadcasting (a scalar
into a row, a row into a matrix), ``@``, ``np.sum(..., axis=k)``, ``np.prod`` (of arrays
that may hold exact zeros), loops writing ``m[t + 1]`` from ``m[t]``, and a name rebound
to arrays of other lengths in a loop.

Only what docs/arrays.md claims is written, so a refusal of it is a finding. Left out on
purpose: length-1 slices mixed with longer operands (``fused_length`` refuses the
broadcast, as documented), indexing of expressions (not claimed), and binding a bare
array, row or slice to a new name (two names for one array are refused).

Array expression nodes (tuples; ``shape`` is tracked by the generator, not stored):
  ("aname", name) ("row", name, index, colon) ("col", name, index)
  ("aslice", name, lo, hi, length) ("colnone", name) ("aun", template, A)
  ("abin", op, A, B) ("ascal", op, A, scalar, scalar_left) ("matmul", A, B, style)
  ("sumaxis", A, axis) ("T", A)
Scalar nodes added to the scalar grammar: ("reduce", fn, A) ("dot", A, B).
"""

from __future__ import annotations

from hypothesis import strategies as st

#: Element-wise functions on arrays, on safe domains (``{0}``: an array expression).
ARRAY_UNARY = [
    "np.sin({0})",
    "np.cos({0})",
    "np.tanh({0})",
    "np.arctan({0})",
    "np.exp(np.cos({0}))",
    "np.log(2.0 + np.sin({0}))",
    "np.sqrt(2.0 + np.cos({0}))",
    "np.square({0})",
    "np.log1p({0} * {0})",
    "{0} / (1.0 + {0} * {0})",
    "-{0}",
]

#: Reductions to a scalar (``.sum()`` is the method form).
REDUCTIONS = ["np.sum", "np.mean", "np.prod", ".sum()"]

#: Tags of array-valued expression nodes.
ARRAY_NODES = {"aname", "row", "col", "aslice", "colnone", "aun", "abin", "ascal", "matmul"}
ARRAY_NODES |= {"sumaxis", "T"}

#: Shapes of local 2-D arrays.
MATRIX_SHAPES = [(3, 2), (2, 3), (3, 3), (2, 2)]

#: Rebindings of ``v`` in a loop: (template, new length from the old one, least old length).
#: ``{s}`` is a scalar expression.
SHAPE_CHANGES = [
    ("v[1:] * {s} + v[:-1]", lambda n: n - 1, 3),
    ("np.sin(v[1:]) + {s}", lambda n: n - 1, 3),
    ("v[:-1] * v[1:]", lambda n: n - 1, 3),
    ("np.concatenate((v, v[:2] * {s}))", lambda n: n + 2, 2),
    ("np.concatenate((v[1:], v * {s}))", lambda n: 2 * n - 1, 2),
]


class ArrayMixin:
    """Array expressions and statements; mixed into ``Generator``."""

    # --- shapes ------------------------------------------------------------------------
    def leaf_shapes(self, scope) -> set:
        """Shapes that a leaf (a name, a row, a column, a slice of a name) can have."""
        shapes = set()
        for shape in scope.arrays.values():
            shapes.add(shape)
            if len(shape) == 2:
                rows, cols = shape
                shapes |= {(cols,), (rows,)}
                shapes |= {(k, cols) for k in range(2, rows)}
            else:
                shapes |= {(k,) for k in range(2, shape[0])}
        return {s for s in shapes if min(s) >= 2}

    def array_leaf(self, scope, shape):
        """A name, row, column or slice of the requested shape (one must exist)."""
        options = []
        for name, s in sorted(scope.arrays.items()):
            if s == shape:
                options.append(("aname", name))
            if len(s) == 2 and shape == (s[1],):
                options.append(("row", name, None, False))
            if len(s) == 2 and shape == (s[0],):
                options.append(("col", name, None))
            if len(shape) == len(s) and shape[1:] == s[1:] and 2 <= shape[0] < s[0]:
                options.append(("aslice", name, None, shape[0], s[0]))
        node = self.pick(options)
        name = node[1]
        s = scope.arrays[name]
        if node[0] == "row":
            self.tag("row read")
            return ("row", name, self.index(scope, s[0]), self.chance(30))
        if node[0] == "col":
            self.tag("column read")
            return ("col", name, self.index(scope, s[1]))
        if node[0] == "aslice":
            self.tag("slice read")
            lo = self.draw(st.integers(0, s[0] - shape[0]))
            return ("aslice", name, lo, lo + shape[0], s[0])
        return node

    # --- array expressions -------------------------------------------------------------
    def aexpr(self, scope, shape, depth: int = 0):
        """An array expression of ``shape``, which must be in ``leaf_shapes(scope)``."""
        if depth >= 2:
            return self.array_leaf(scope, shape)
        kind = self.draw(st.integers(0, 7))
        leaves = self.leaf_shapes(scope)
        if kind == 1:
            template = self.pick(ARRAY_UNARY)
            self.tag("array element-wise function")
            return ("aun", template, self.aexpr(scope, shape, depth + 1))
        if kind in (2, 7):
            return self.array_binary(scope, shape, depth)
        if kind == 3:
            self.tag("scalar broadcast in expression")
            op = self.pick(["+", "-", "*"])
            return (
                "ascal",
                op,
                self.aexpr(scope, shape, depth + 1),
                self.expr(scope, 1),
                self.chance(50),
            )
        if kind == 4:
            inner = [k for k in range(2, 4) if self._matmul_shapes(shape, k) <= leaves]
            if inner:
                k = self.pick(inner)
                left, right = self._matmul_operands(shape, k)
                style = self.pick(["@", "@", "np.dot", "np.matmul"])
                self.tag("matmul")
                return (
                    "matmul",
                    self.aexpr(scope, left, depth + 1),
                    self.aexpr(scope, right, depth + 1),
                    style,
                )
        if kind == 5 and len(shape) == 1:
            sources = [s for s in leaves if len(s) == 2 and shape[0] in s]
            if sources:
                source = self.pick(sorted(sources))
                axis = 0 if source[1] == shape[0] else 1
                self.tag(f"np.sum(axis={axis})")
                return ("sumaxis", self.aexpr(scope, source, depth + 1), axis)
        if kind == 6 and len(shape) == 2 and shape[::-1] in leaves:
            self.tag(".T")
            return ("T", self.aexpr(scope, shape[::-1], depth + 1))
        return self.array_leaf(scope, shape)

    @staticmethod
    def _matmul_operands(shape, k):
        if len(shape) == 2:
            return (shape[0], k), (k, shape[1])
        return (shape[0], k), (k,)  # matrix @ vector

    def _matmul_shapes(self, shape, k) -> set:
        return set(self._matmul_operands(shape, k))

    def array_binary(self, scope, shape, depth):
        """``A op B`` of one shape, or with B broadcast: a row into a matrix, a column."""
        op = self.pick(["+", "-", "*"])
        left = self.aexpr(scope, shape, depth + 1)
        vectors = [n for n, s in scope.arrays.items() if s == (shape[0],)]
        if len(shape) == 2 and (shape[1],) in self.leaf_shapes(scope) and self.chance(50):
            self.tag("row broadcast into matrix")
            right = self.aexpr(scope, (shape[1],), depth + 1)
        elif len(shape) == 2 and vectors and self.chance(15):
            self.tag("column broadcast (v[:, None])")
            right = ("colnone", self.pick(sorted(vectors)))
        else:
            right = self.aexpr(scope, shape, depth + 1)
        return ("abin", op, left, right)

    def array_value(self, scope, shape):
        """A fresh array of ``shape``: never a bare name, row or slice (that would alias)."""
        node = self.aexpr(scope, shape)
        if node[0] in ("aname", "row", "col", "aslice"):
            node = ("ascal", "*", node, ("const", self.pick([0.5, 1.5, -0.75])), False)
        return node

    def reduction(self, scope, depth: int):
        """A scalar from an array: ``np.sum``, ``np.mean``, ``np.prod``, ``.sum()``, ``np.dot``."""
        shapes = sorted(self.leaf_shapes(scope))
        shape = self.pick(shapes)
        vector_shapes = [s for s in shapes if len(s) == 1]
        if vector_shapes and self.chance(15):
            shape = self.pick(vector_shapes)
            self.tag("np.dot of vectors")
            return ("dot", self.aexpr(scope, shape, depth + 1), self.aexpr(scope, shape, depth + 1))
        fn = self.pick(REDUCTIONS)
        self.tag(fn if fn != ".sum()" else ".sum() method")
        return ("reduce", fn, self.aexpr(scope, shape, depth + 1))

    # --- statements --------------------------------------------------------------------
    def array_statement(self, scope):
        """A write of a row, column or slice, a rebinding, or an array loop; None if none fits."""
        matrices = sorted(n for n in scope.writable if len(scope.arrays[n]) == 2)
        vectors = sorted(n for n in scope.writable if len(scope.arrays[n]) == 1)
        locals_ = sorted(n for n in scope.writable if n in scope.local_arrays)
        kind = self.draw(st.integers(0, 8))
        if kind in (0, 1) and matrices:
            return self.row_write(scope, self.pick(matrices))
        if kind == 2 and matrices:
            return self.rows_write(scope, self.pick(matrices))
        if kind == 3 and matrices:
            return self.column_write(scope, self.pick(matrices))
        if kind == 4 and vectors:
            return self.vector_slice_write(scope, self.pick(vectors))
        if kind == 5 and locals_:
            return self.rebinding(scope, self.pick(locals_))
        if kind == 6 and matrices and scope.depth < self.max_depth:
            return self.row_recurrence(scope, self.pick(matrices))
        if kind >= 7 and scope.depth == 0 and "v" not in scope.arrays:
            return self.shape_changing_loop(scope)
        return None

    def _write_op(self):
        return self.pick(["=", "=", "+=", "-=", "*="])

    def _row_or_scalar(self, scope, length: int):
        """The value of a row write: a row expression, or a scalar broadcast into the row."""
        if self.chance(30):
            self.tag("scalar broadcast into row")
            return self.expr(scope)
        return self.aexpr(scope, (length,))

    def row_write(self, scope, name):
        """``m[i] = ...`` or ``m[i, :] = ...``, often reading other rows of ``m``."""
        rows, cols = scope.arrays[name]
        colon = self.chance(30)
        self.tag("row write (m[i, :])" if colon else "row write (m[i])")
        index = self.index(scope, rows)
        value = self._row_or_scalar(scope, cols)
        if self.rarely(40):  # read another row of the array written (a known bug's shape)
            self.tag("row write reading a row of the same array")
            other = ("row", name, self.index(scope, rows), self.chance(30))
            if value[0] in ARRAY_NODES:
                value = ("abin", self.pick(["+", "-", "*"]), other, value)
            else:
                value = ("ascal", self.pick(["+", "*"]), other, value, self.chance(50))
        return ("rowstore", name, index, colon, self._write_op(), value)

    def rows_write(self, scope, name):
        """``m[lo:hi] = ...``: a block of rows, a row broadcast into it, or a scalar."""
        rows, cols = scope.arrays[name]
        length = self.draw(st.integers(2, rows))
        lo = self.draw(st.integers(0, rows - length))
        form = self.draw(st.integers(0, 2))
        self.tag("rows slice write")
        if form == 1:
            self.tag("row broadcast into rows slice")
            value = self.aexpr(scope, (cols,))
        elif form == 2:
            self.tag("scalar broadcast into rows slice")
            value = self.expr(scope)
        else:
            value = self.aexpr(scope, (length, cols))
        return ("slicestore", name, lo, lo + length, rows, self._write_op(), value)

    def column_write(self, scope, name):
        """``m[:, j] = ...`` from a column-length vector or a scalar."""
        rows, cols = scope.arrays[name]
        self.tag("column write (m[:, j])")
        index = self.index(scope, cols)
        return ("colstore", name, index, self._write_op(), self._row_or_scalar(scope, rows))

    def vector_slice_write(self, scope, name):
        """``w[lo:hi] = ...`` of a vector, from a vector of that length or a scalar."""
        (n,) = scope.arrays[name]
        length = self.draw(st.integers(2, n))
        lo = self.draw(st.integers(0, n - length))
        if self.chance(30):
            self.tag("scalar broadcast into slice")
            value = self.expr(scope)
        else:
            self.tag("vector slice write")
            value = self.aexpr(scope, (length,))
        return ("slicestore", name, lo, lo + length, n, self._write_op(), value)

    def rebinding(self, scope, name):
        """``m = <expression of m's shape>`` or ``m += ...``: a whole local array, rebound."""
        shape = scope.arrays[name]
        op = self.pick(["=", "=", "+=", "*="])
        self.tag("whole-array rebinding" if op == "=" else "whole-array augmented assignment")
        value = self.array_value(scope, shape) if op == "=" else self.aexpr(scope, shape)
        return ("arebind", name, op, value)

    def row_recurrence(self, scope, name):
        """``for t in range(rows - 1): m[t + 1] = F(m[t], ...)``: rows written from earlier rows."""
        rows, cols = scope.arrays[name]
        self.loop_vars += 1
        var = f"i{self.loop_vars}"
        shifted = self.chance(50)  # range(1, rows) writing m[t] from m[t - 1]
        bounds = (1, rows) if shifted else (0, rows - 1)
        inner = scope.child(
            ints=scope.ints + [var],
            in_loop=True,
            depth=scope.depth + 1,
            int_bounds={**scope.int_bounds, var: bounds},
        )
        target = ("iname", var) if shifted else ("iadd", ("iname", var), 1)
        previous = ("iadd", ("iname", var), -1) if shifted else ("iname", var)
        value = ("row", name, previous, self.chance(20))
        if self.chance(70):
            other = self._row_or_scalar(inner, cols)
            if other[0] in ARRAY_NODES:
                value = ("abin", self.pick(["+", "-", "*"]), value, other)
            else:
                value = ("ascal", self.pick(["+", "*"]), value, other, self.chance(50))
        if self.chance(30):
            value = ("aun", self.pick(ARRAY_UNARY), value)
        self.tag("row recurrence loop (m[t + 1] from m[t])")
        body = [("rowstore", name, target, False, self.pick(["=", "=", "+="]), value)]
        if self.rarely(30):
            body += self.block(inner, self.draw(st.integers(1, 2)))
        args = [("iconst", b) for b in bounds] if shifted else [("iconst", bounds[1])]
        return ("for", var, args, body)

    def shape_changing_loop(self, scope):
        """``v = ...; for t in range(k): v = <v with another length>``, then ``v`` is read."""
        starts = sorted(s for s in self.leaf_shapes(scope) if len(s) == 1)
        if not starts:
            return None
        length = self.pick(starts)[0]
        first = ("assign_array", "v", self.array_value(scope, (length,)))
        self.loop_vars += 1
        var = f"i{self.loop_vars}"
        inner = scope.child(ints=scope.ints + [var], in_loop=True, depth=1)
        changes = [self.pick(SHAPE_CHANGES) for _ in range(self.draw(st.integers(1, 2)))]
        trips = self.draw(st.integers(1, 3))
        final = self._lengths_after(length, changes, trips)
        if final is None:
            return None
        body = [("vchange", template, self.expr(inner, 1)) for template, _, _ in changes]
        if scope.floats and self.rarely(40):
            self.tag("reduction of a reshaped name in its loop")
            body.append(
                ("aug", self.pick(scope.floats), "+=", ("reduce", "np.sum", ("aname", "v")))
            )
        self.tag("name rebound to arrays of other lengths")
        scope.arrays["v"] = (final,)
        return ("seq", [first, ("for", var, [("iconst", trips)], body)])

    @staticmethod
    def _lengths_after(length, changes, trips):
        """v's length after the loop, or None if some step would go below its least length."""
        for _ in range(trips):
            for _, new_length, least in changes:
                if length < least:
                    return None
                length = new_length(length)
                if not 2 <= length <= 12:
                    return None
        return length
