import pytest

from fastprune.data import SequenceStream, StreamPosition, open_source
from fastprune.errors import FastpruneError
from fastprune.models import byte_tokenizer

EOS = 258


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "c.txt"
    # Documents of varied length, one much longer than a sequence, and a BOM the reader must drop.
    docs = ["alpha", "b" * 23, "gamma delta", "x" * 7, "the end"]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(docs).encode() + b"\n")
    return path, docs


def _expected_packed(docs, seq_len):
    stream = []
    for d in docs:
        stream += list(d.encode()) + [EOS]
    return [stream[i : i + seq_len] for i in range(0, len(stream), seq_len)]


def test_packing_joins_documents_with_eos(corpus, tok):
    path, docs = corpus
    seqs = list(SequenceStream(open_source(str(path)), tok, seq_len=8))
    assert seqs == _expected_packed(docs, 8)
    assert all(len(s) == 8 for s in seqs[:-1]) and 0 < len(seqs[-1]) <= 8


def test_unpacked_truncates_and_counts(corpus, tok):
    path, docs = corpus
    stream = SequenceStream(open_source(str(path)), tok, seq_len=10, pack=False)
    seqs = list(stream)
    assert seqs == [list(d.encode())[:10] for d in docs]
    assert stream.position.truncated == 2 and stream.position.done


def test_max_tokens_is_exact(corpus, tok):
    path, _ = corpus
    stream = SequenceStream(open_source(str(path)), tok, seq_len=8, max_tokens=19)
    seqs = list(stream)
    assert sum(map(len, seqs)) == 19 and [len(s) for s in seqs] == [8, 8, 3]
    assert stream.position.tokens == 19 and stream.position.done


@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("stop", [1, 2, 3, 5])
def test_resume_from_any_position_continues_exactly(corpus, tok, pack, stop):
    path, _ = corpus
    full = list(SequenceStream(open_source(str(path)), tok, seq_len=4, pack=pack))
    first = SequenceStream(open_source(str(path)), tok, seq_len=4, pack=pack)
    head = []
    for seq in first:
        head.append(seq)
        if len(head) == stop:
            break
    # The position survives a JSON round trip (it is saved in state.json).
    position = StreamPosition.from_dict(first.position.to_dict())
    rest = list(SequenceStream(open_source(str(path)), tok, seq_len=4, pack=pack, position=position))
    assert head + rest == full


def test_resume_with_several_sequences_in_carry_at_corpus_end(tmp_path, tok):
    path = tmp_path / "long.txt"
    path.write_text("y" * 30 + "\n")
    full = list(SequenceStream(open_source(str(path)), tok, seq_len=4))
    first = SequenceStream(open_source(str(path)), tok, seq_len=4)
    head = [next(iter(first))]
    rest = list(SequenceStream(open_source(str(path)), tok, seq_len=4, position=first.position))
    assert head + rest == full and all(len(s) <= 4 for s in rest)


def test_bad_arguments(corpus, tok):
    path, _ = corpus
    src = open_source(str(path))
    with pytest.raises(FastpruneError, match="seq-len"):
        SequenceStream(src, tok, seq_len=0)
    with pytest.raises(FastpruneError, match="max-tokens"):
        SequenceStream(src, tok, seq_len=8, max_tokens=0)
    with pytest.raises(FastpruneError, match="no tokenizer"):
        SequenceStream(src, None, seq_len=8)


def test_resume_through_a_streaming_hf_dataset(shared_data, tok):
    # datasets' own streaming reader, resumed with skip(): same sequences as one uninterrupted stream.
    src = open_source(f"hf:json:{shared_data}/gsm8k/test.jsonl", field="question")
    full = list(SequenceStream(src, tok, seq_len=64, max_tokens=1500))
    first = SequenceStream(src, tok, seq_len=64, max_tokens=1500)
    head = [seq for _, seq in zip(range(7), first, strict=False)]
    rest = list(SequenceStream(src, tok, seq_len=64, max_tokens=1500, position=first.position))
    assert head + rest == full and sum(map(len, full)) == 1500
