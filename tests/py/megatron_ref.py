"""A numpy reference for Megatron-DeepSpeed's GPT sample indices and blends.

Written from the algorithm as Megatron-DeepSpeed (argonne-lcf fork) describes
and runs it, deliberately plainly: loops where Megatron's C++ helpers loop,
numpy's own RandomState for every random draw. The tests compare agpt's
`megatron` index against these arrays element for element.
"""
import math

import numpy as np

# ---------------------------------------------------------------- files


def write_indexed(prefix, docs, dtype=np.uint16):
    """Writes PREFIX.bin/.idx (MMIDIDX, one sequence per document)."""
    codes = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.uint16: 8}
    sizes = np.array([len(d) for d in docs], dtype=np.int32)
    itemsize = np.dtype(dtype).itemsize
    pointers = np.zeros(len(docs), dtype=np.int64)
    if len(docs) > 1:
        pointers[1:] = np.cumsum(sizes[:-1].astype(np.int64) * itemsize)
    with open(f"{prefix}.bin", "wb") as f:
        for d in docs:
            f.write(np.asarray(d, dtype=dtype).tobytes())
    with open(f"{prefix}.idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(np.array([1], dtype="<u8").tobytes())
        f.write(np.array([codes[dtype]], dtype="<u1").tobytes())
        f.write(np.array([len(docs)], dtype="<u8").tobytes())
        f.write(np.array([len(docs) + 1], dtype="<u8").tobytes())
        f.write(sizes.astype("<i4").tobytes())
        f.write(pointers.astype("<i8").tobytes())
        f.write(np.arange(len(docs) + 1, dtype="<i8").tobytes())
    return sizes


# ---------------------------------------------------------------- one file


def split_bounds(splits_string, size):
    """get_train_valid_test_split_."""
    if "," in splits_string:
        splits = [float(s) for s in splits_string.split(",")]
    elif "/" in splits_string:
        splits = [float(s) for s in splits_string.split("/")]
    else:
        splits = [float(splits_string)]
    while len(splits) < 3:
        splits.append(0.0)
    splits = splits[:3]
    total = sum(splits)
    splits = [s / total for s in splits]
    idx = [0]
    for i, s in enumerate(splits):
        idx.append(idx[i] + int(round(s * float(size))))
    diff = idx[-1] - size
    for i in range(1, len(idx)):
        idx[i] -= diff
    return idx


def num_epochs_for(tokens_per_epoch, seq_length, num_samples):
    epochs, total = 0, 0
    while True:
        epochs += 1
        total += tokens_per_epoch
        if (total - 1) // seq_length >= num_samples:
            return epochs


def doc_idx_for(documents, epochs, rng, separate_last):
    if not separate_last or epochs == 1:
        d = np.tile(np.asarray(documents, dtype=np.int64), epochs).astype(np.int32)
        rng.shuffle(d)
        return d
    first = doc_idx_for(documents, epochs - 1, rng, False)
    last = doc_idx_for(documents, 1, rng, False)
    return np.concatenate((first, last))


def sample_idx_for(sizes, doc_idx, seq_length, epochs, tokens_per_epoch):
    n = (epochs * tokens_per_epoch - 1) // seq_length
    out = np.zeros((n + 1, 2), dtype=np.int64)
    pos, off = 0, 0
    for s in range(1, n + 1):
        remaining = seq_length + 1
        while remaining != 0:
            length = int(sizes[doc_idx[pos]]) - off
            remaining -= length
            if remaining <= 0:
                off += remaining + length - 1
                remaining = 0
            else:
                pos += 1
                off = 0
        out[s] = (pos, off)
    return out


def shuffle_idx_for(first, total, rng):
    dtype = np.uint32 if total < np.iinfo(np.uint32).max - 1 else np.int64
    a = np.arange(0, first, dtype=dtype)
    rng.shuffle(a)
    if first == total:
        return a
    b = np.arange(first, total, dtype=dtype)
    rng.shuffle(b)
    return np.concatenate((a, b))


def gpt_dataset(sizes, splits_string, split_index, num_samples, seq_length, seed):
    """_build_index_mappings for one file and split: a dict of arrays."""
    bounds = split_bounds(splits_string, len(sizes))
    documents = np.arange(bounds[split_index], bounds[split_index + 1], dtype=np.int32)
    tokens = int(np.sum(sizes[documents].astype(np.int64)))
    epochs = num_epochs_for(tokens, seq_length, num_samples)
    rng = np.random.RandomState(seed=seed)
    separate = False
    first_samples = None
    if epochs > 1:
        first_samples = ((epochs - 1) * tokens - 1) // seq_length
        last = num_samples - first_samples
        per_epoch = (tokens - 1) // seq_length
        separate = last < int(0.80 * per_epoch)
    doc_idx = doc_idx_for(documents, epochs, rng, separate)
    sample_idx = sample_idx_for(sizes, doc_idx, seq_length, epochs, tokens)
    total = sample_idx.shape[0] - 1
    shuffle_idx = shuffle_idx_for(first_samples if separate else total, total, rng)
    return dict(doc_begin=bounds[split_index], doc_end=bounds[split_index + 1], tokens=tokens, epochs=epochs,
                separate=separate, doc_idx=doc_idx, sample_idx=sample_idx, shuffle_idx=shuffle_idx,
                num_samples=num_samples)


def gpt_sample(ds, tokens_of, j, seq_length):
    """Tokens of sample j of a GPTDataset; tokens_of(seq) is that sequence's array."""
    k = ds["shuffle_idx"][j]
    d0, o0 = ds["sample_idx"][k]
    d1, o1 = ds["sample_idx"][k + 1]
    doc = ds["doc_idx"]
    if d0 == d1:
        out = tokens_of(doc[d0])[o0:o1 + 1]
    else:
        parts = [tokens_of(doc[d0])[o0:]]
        for d in range(d0 + 1, d1):
            parts.append(tokens_of(doc[d]))
        parts.append(tokens_of(doc[d1])[:o1 + 1])
        out = np.concatenate(parts)
    assert len(out) == seq_length + 1
    return out


# ---------------------------------------------------------------- blends


def blending_indices(weights, size):
    """helpers.build_blending_indices, as a plain loop."""
    weights = [float(w) for w in weights]
    counts = [0] * len(weights)
    di = np.zeros(size, dtype=np.int64)
    si = np.zeros(size, dtype=np.int64)
    for n in range(size):
        x = max(float(n), 1.0)
        best, best_e = 0, weights[0] * x - float(counts[0])
        for d in range(1, len(weights)):
            e = weights[d] * x - float(counts[d])
            if e > best_e:
                best, best_e = d, e
        di[n] = best
        si[n] = counts[best]
        counts[best] += 1
    return di, si


def weights_and_counts(weights, num_samples):
    """get_datasets_weights_and_num_samples for one split."""
    total = 0.0
    for w in weights:
        total += w
    norm = [w / total for w in weights]
    counts = [int(math.ceil(num_samples * w * 1.005)) for w in norm]
    return norm, counts


def blendable_weights(weights):
    """BlendableDataset's normalization (np.sum is numpy's pairwise sum)."""
    w = np.array(weights, dtype=np.float64)
    w /= np.sum(w)
    return w


def build_plain(files_sizes, weights, splits_string, split_index, num_samples, seq_length, seed):
    """--data-path: GPTDatasets, blended when there is more than one."""
    if len(files_sizes) == 1:
        return dict(files=[gpt_dataset(files_sizes[0], splits_string, split_index, num_samples, seq_length, seed)],
                    size=num_samples, top=None)
    norm, counts = weights_and_counts(weights, num_samples)
    files = [gpt_dataset(s, splits_string, split_index, c, seq_length, seed) for s, c in zip(files_sizes, counts)]
    size = sum(counts)
    di, si = blending_indices(blendable_weights(norm), size)
    return dict(files=files, size=size, top=(di, si))


def build_corpus(files_sizes, weights, corpora, splits_string, split_index, num_samples, seq_length, seed,
                 blend_in_corpus=False, shuffle_in_corpus=False):
    """--data-file-list in the argonne-lcf fork: files -> corpora -> blend."""
    norm, counts = weights_and_counts(weights, num_samples)
    files = [gpt_dataset(s, splits_string, split_index, c, seq_length, seed) for s, c in zip(files_sizes, counts)]
    total = sum(counts)
    names = sorted(set(corpora))
    out = []
    for name in names:
        members = [i for i, c in enumerate(corpora) if c == name]
        ns = np.array([counts[i] for i in members], dtype=np.int64)
        csize = int(np.sum(ns))
        if blend_in_corpus:
            di, si = blending_indices(ns / csize, csize)
        else:
            di = np.concatenate([np.full(n, k, dtype=np.int64) for k, n in enumerate(ns)])
            si = np.concatenate([np.arange(n, dtype=np.int64) for n in ns])
        shuffle = np.arange(csize)
        if shuffle_in_corpus:
            np.random.RandomState(seed=seed).shuffle(shuffle)
        out.append(dict(name=name, files=members, size=csize, index=di[shuffle], sample_index=si[shuffle],
                        shuffle=shuffle if shuffle_in_corpus else None))
    cw = [float(c["size"]) / total for c in out]
    di, si = blending_indices(blendable_weights(cw), total)
    return dict(files=files, size=total, corpora=out, top=(di, si))


def sample_of(built, tokens_of_file, i, seq_length, layout):
    """Tokens of blend sample i; tokens_of_file(f, seq) gives a sequence."""
    if built["top"] is None:
        f, j = 0, i
    else:
        d, j = int(built["top"][0][i]), int(built["top"][1][i])
        if layout == "plain":
            f = d
        else:
            c = built["corpora"][d]
            f = c["files"][int(c["index"][j])]
            j = int(c["sample_index"][j])
    return f, gpt_sample(built["files"][f], lambda s: tokens_of_file(f, s), j, seq_length)
