"""reprolib.ptb: token counts of the published files, the 10k vocabulary, round trips, and
Zaremba's batch layout checked element by element."""

import pytest
import torch

from reprolib import ptb


@pytest.fixture(scope="module")
def corpus():
    return ptb.load()


def test_token_counts_match_the_published_files(corpus):
    for split, n in ptb.N_TOKENS.items():
        assert getattr(corpus, split).numel() == n, split
    assert len(ptb.lines("train")) == 42_068 and len(ptb.lines("valid")) == 3_370 and len(ptb.lines("test")) == 3_761


def test_every_line_ends_with_eos(corpus):
    eos = corpus.index[ptb.EOS]
    for split in ptb.SPLITS:
        ids = getattr(corpus, split)
        assert (ids == eos).sum().item() == len(ptb.lines(split))
        assert ids[-1].item() == eos
    first = ptb.lines("valid")[0].split()
    assert corpus.decode(corpus.valid[: len(first) + 1]) == first + [ptb.EOS]


def test_vocabulary_has_10k_words_sorted_by_count(corpus):
    assert len(corpus.words) == ptb.VOCAB_SIZE == len(set(corpus.words))
    assert ptb.EOS in corpus.index and ptb.UNK in corpus.index
    assert all(corpus.words[i] == w for w, i in corpus.index.items())
    counts = torch.bincount(corpus.train, minlength=ptb.VOCAB_SIZE)
    assert (counts[:-1] >= counts[1:]).all()  # most frequent first
    assert corpus.words[0] == "the"
    tied = [corpus.words[i] for i in range(ptb.VOCAB_SIZE) if counts[i] == counts[-1]]
    assert tied == sorted(tied)  # ties alphabetical
    # valid and test use only training words (the files are already mapped to <unk>)
    assert all(w in corpus.index for w in ptb.tokens("test"))


def test_build_vocabulary_order():
    assert ptb.build_vocabulary(["b", "a", "c", "a", "b", "d"]) == ("a", "b", "c", "d")
    with pytest.raises(TypeError, match="words"):
        ptb.build_vocabulary("abc")


def test_sentence_round_trip_and_unknown_words(corpus):
    line = ptb.lines("test")[5]
    ids = corpus.encode(line)
    assert ids.dtype == torch.int64 and corpus.decode(ids) == line.split()
    assert corpus.decode(corpus.encode(["the", "qwertyuiopasdf"])) == ["the", ptb.UNK]
    with pytest.raises(ValueError, match="ids"):
        corpus.decode(torch.tensor([ptb.VOCAB_SIZE]))
    with pytest.raises(TypeError, match="ids"):
        corpus.decode(torch.tensor([1.0]))


def test_load_returns_fresh_tensors(corpus):
    other = ptb.load()
    other.train[0] = -1
    assert corpus.train[0] != -1 and ptb.load().train[0] != -1


def test_lines_checks_the_split():
    with pytest.raises(ValueError, match="split"):
        ptb.lines("dev")


def test_batchify_is_contiguous_streams_one_per_column():
    ids = torch.arange(103)
    data = ptb.batchify(ids, 4)
    assert data.shape == (25, 4)
    for b in range(4):
        assert torch.equal(data[:, b], ids[b * 25:(b + 1) * 25])
    with pytest.raises(ValueError, match="ids"):
        ptb.batchify(torch.arange(7), 4)
    with pytest.raises(TypeError, match="ids"):
        ptb.batchify(torch.arange(7.0), 2)
    with pytest.raises(ValueError, match="batch_size"):
        ptb.batchify(ids, 0)


@pytest.mark.parametrize("drop_last", [False, True])
def test_bptt_targets_are_inputs_shifted_by_one(drop_last):
    data = ptb.batchify(torch.arange(2 * 23), 2)  # 23 steps → 22 targets per column
    segments = list(ptb.bptt_batches(data, 5, drop_last=drop_last))
    assert len(segments) == ptb.n_batches(data, 5, drop_last) == (4 if drop_last else 5)
    assert [x.shape[0] for x, _ in segments] == [5, 5, 5, 5] + ([] if drop_last else [2])
    for x, y in segments:
        assert x.shape == y.shape and x.shape[1] == 2
        assert torch.equal(y, x + 1)  # ids are consecutive integers within a column
    xs = torch.cat([x for x, _ in segments])
    assert torch.equal(xs, data[: xs.shape[0]])  # the segments tile the rows in order
    if not drop_last:
        assert torch.equal(torch.cat([y for _, y in segments]), data[1:])  # every target exactly once
    with pytest.raises(ValueError, match="seq_len"):
        ptb.bptt_batches(data, 0)


def test_ptb_batches_at_the_papers_sizes(corpus):
    data = ptb.batchify(corpus.train, 20)  # Kanai §4.1.1: batch 20, 35 steps
    assert data.shape == (929_589 // 20, 20)
    x, y = next(ptb.bptt_batches(data, 35))
    assert x.shape == y.shape == (35, 20)
    assert torch.equal(x[1:], y[:-1])
    assert torch.equal(data[:, 1][:36], corpus.train[46_479:46_479 + 36])
