import json

from pytest import approx
from safetensors import safe_open

from fastprune.cli import main
from fastprune.train.metrics import read_log


def test_cli_lora_writes_plain_checkpoint_and_log(rows_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    rc = main(["train", "tiny:llama:2", "--data", rows_file(12), "--out", str(out), "--mode", "lora",
               "--max-steps", "3", "--batch-size", "2", "--max-seq-len", "128", "--device", "cpu", "--seed", "3"])
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "train_log.jsonl",
            "train_summary.json"} <= names
    assert "adapter_config.json" not in names and not (tmp_path / "out.train").exists()
    with safe_open(out / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and not any("lora" in k or "base_layer" in k for k in keys)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.num_hidden_layers == 2
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3]
    for r in log:
        assert r["loss"] > 0 and r["grad_norm"] > 0 and r["tokens"] > 0 and r["tokens_per_s"] > 0
        assert r["mfu"] is None  # CPU without --peak-flops: not guessed
    assert [r["lr"] for r in log] == approx([2e-4 / 50, 2 * 2e-4 / 50, 3 * 2e-4 / 50])  # warmup 50
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["data"]["rows"] == 12



def test_cli_errors_are_one_line_and_exit_2(rows_file, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    rc = main(["train", "tiny:llama:2", "--data", str(empty), "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert rc == 2 and "has no rows" in capsys.readouterr().err
    rc = main(["train", "tiny:llama:2", "--data", rows_file(4), "--out", str(tmp_path / "y"), "--mode", "partial",
               "--last-k", "9", "--device", "cpu"])
    assert rc == 2 and "--last-k 9 is out of range" in capsys.readouterr().err
    rc = main(["train", "tiny:llama:2", "--data", rows_file(4), "--out", str(tmp_path / "z"), "--lr", "-1"])
    assert rc == 2 and "--lr must be positive" in capsys.readouterr().err
