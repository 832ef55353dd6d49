"""A small multilayer perceptron trained with sourcead.grad on scikit-learn's digits.

8x8 images of handwritten digits (1,797 of them, shipped with scikit-learn), one hidden
layer of 64 tanh units, softmax cross-entropy, mini-batch gradient descent with momentum.
The gradient of the loss with respect to all four weight arrays comes from
``sourcead.grad`` (NumPy code, compiled with Numba).

Run: ``pip install -e ".[examples]"`` then ``python examples/digits_mlp.py``
(prints progress and the test accuracy; saves ``digits_mlp.png`` beside this file when
matplotlib is installed).
"""

import time
from pathlib import Path

import numpy as np

import sourcead


def loss(w1, b1, w2, b2, x, y):
    """Mean softmax cross-entropy of the network on images x (n, 64), one-hot labels y (n, 10)."""
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    top = np.max(logits)  # for a stable softmax
    e = np.exp(logits - top)
    log_norm = np.log(np.sum(e, axis=1))
    picked = np.sum(logits * y, axis=1)
    return np.mean(log_norm - picked + top)


def predict(w1, b1, w2, b2, x):
    return np.argmax(np.tanh(x @ w1 + b1) @ w2 + b2, axis=1)


def main():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None
    digits = load_digits()
    x = digits.data / 16.0
    labels = digits.target
    x_train, x_test, l_train, l_test = train_test_split(x, labels, test_size=0.25, random_state=0)
    y_train = np.eye(10)[l_train]

    rng = np.random.default_rng(0)
    params = [
        rng.normal(scale=1 / 8, size=(64, 64)),
        np.zeros(64),
        rng.normal(scale=1 / 8, size=(64, 10)),
        np.zeros(10),
    ]
    velocity = [np.zeros_like(p) for p in params]
    gradient = sourcead.grad(loss, wrt=(0, 1, 2, 3))
    start = time.perf_counter()
    history = []
    batch = 64
    for epoch in range(30):
        order = rng.permutation(len(x_train))
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            grads = gradient(*params, x_train[idx], y_train[idx])
            for p, v, g in zip(params, velocity, grads, strict=True):
                v *= 0.9
                v -= 0.1 * g
                p += v
        value = loss(*params, x_train, y_train)
        accuracy = np.mean(predict(*params, x_test) == l_test)
        history.append((value, accuracy))
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1:3d}  training loss {value:.4f}  test accuracy {accuracy:.1%}")
    print(f"test accuracy {history[-1][1]:.1%} after {time.perf_counter() - start:.1f} s")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([h[0] for h in history], label="training loss")
    ax.plot([1 - h[1] for h in history], label="test error rate")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.tight_layout()
    out = Path(__file__).with_name("digits_mlp.png")  # beside this file, run from anywhere
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
