"""Pure-Python references of EDA's four operations (Wei and Zou, 2019) on token ids.

Each takes one sequence (a list), its editable flags and the layer's uniform draws
for that sequence, and follows the paper's description step by step.
"""

import numpy as np


def draw(u, n):
    """The index a float32 uniform draw picks among n items."""
    return min(int(np.floor(np.float32(u) * np.float32(n))), max(n - 1, 0))


def n_operations(rate, n_tokens, maximum):
    """EDA: n = max(1, int(alpha * number of words))."""
    if n_tokens == 0 or rate == 0:
        return 0
    n = max(1, int(np.floor(np.float32(rate) * np.float32(n_tokens))))
    return n if maximum is None else min(n, maximum)


def deletion(tokens, editable, u, rate, pad, max_deletions=None):
    drawn = [i for i, e in enumerate(editable) if e and u[i] < np.float32(rate)]
    if max_deletions is not None:
        drawn = sorted(drawn, key=lambda i: u[i])[:max_deletions]
    candidates = [i for i, e in enumerate(editable) if e]
    if candidates and len(drawn) == len(candidates):  # EDA keeps one random word
        drawn.remove(max(candidates, key=lambda i: u[i]))
    kept = [t for i, t in enumerate(tokens) if t != pad and i not in drawn]
    return kept + [pad] * (len(tokens) - len(kept))


def swap(tokens, editable, u, rate, max_swaps=None):
    tokens = list(tokens)
    positions = [i for i, e in enumerate(editable) if e]
    n = len(positions)
    steps = n_operations(rate, n, max_swaps) if n >= 2 else 0
    for step in range(steps):
        first = draw(u[step][0], n)
        second = draw(u[step][1], n - 1)
        second += second >= first
        a, b = positions[first], positions[second]
        tokens[a], tokens[b] = tokens[b], tokens[a]
    return tokens


def insertion(tokens, editable, u, rate, pad, synonyms=None, max_insertions=None):
    tokens = list(tokens)
    length = len(tokens)
    frozen = [t != pad and not e for t, e in zip(tokens, editable, strict=True)]
    steps = n_operations(rate, sum(editable), max_insertions)
    for step in range(steps):
        positions = [i for i, t in enumerate(tokens) if t != pad and not frozen[i]]
        sources = [i for i in positions if synonyms is None or tokens[i] in synonyms]
        if not sources:
            continue
        token = tokens[sources[draw(u[step][0], len(sources))]]
        if synonyms is not None:
            token = synonyms[token][draw(u[step][1], len(synonyms[token]))]
        target = positions[draw(u[step][2], len(positions))]
        tokens = (tokens[:target] + [token] + tokens[target:])[:length]
        frozen = (frozen[:target] + [False] + frozen[target:])[:length]
    return tokens


def replacement(tokens, editable, u_choice, u_synonym, rate, synonyms, max_replacements=None):
    tokens = list(tokens)
    n = n_operations(rate, sum(editable), max_replacements)
    candidates = [i for i, e in enumerate(editable) if e and tokens[i] in synonyms]
    for i in sorted(candidates, key=lambda i: u_choice[i])[:n]:
        options = synonyms[tokens[i]]
        tokens[i] = options[draw(u_synonym[i], len(options))]
    return tokens


def token_batch(pad=0, length=12, seed=0):
    """Right-padded sequences of varied lengths, a mask freezing the first token of
    some rows (like [CLS]), and the editable flags the layers derive."""
    rng = np.random.default_rng(seed)
    lengths = [length, length - 1, 9, 6, 3, 2, 1, 0]
    tokens = np.full((len(lengths), length), pad, "int32")
    for row, n in enumerate(lengths):
        tokens[row, :n] = rng.choice([t for t in range(1, 40) if t != pad], n)
    mask = np.ones_like(tokens, bool)
    mask[::2, 0] = False
    editable = (tokens != pad) & mask
    return tokens, mask, editable
