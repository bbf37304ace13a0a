import json

from fastprune.cli import main


def _args(corpus, out, *extra):
    return [
        "calibrate",
        "tiny:llama:2",
        "--data",
        str(corpus),
        "--template",
        "{question}\n{answer}",
        "--out",
        str(out),
        "--seq-len",
        "16",
        "--batch-size",
        "2",
        "--max-tokens",
        "150",
        "--no-progress",
        "--dtype",
        "float32",
        "--device",
        "cpu",
        *extra,
    ]


def test_calibrate_command_writes_results_and_resumes_as_done(corpus_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(corpus_file, out, "--backend", "torch")) == 0
    result = json.loads((out / "importance.json").read_text())
    assert result["tokens"] == 150 and result["model"] == "tiny:llama:2" and result["num_layers"] == 2
    assert result["settings"]["backend"] == "torch" and result["settings"]["seq_len"] == 16
    assert result["settings"]["data"]["template"] == "{question}\n{answer}"
    assert {"heatmap.png", "bi.png", "state"} <= {p.name for p in out.iterdir()}
    assert main(_args(corpus_file, out)) == 0
    assert "already done" in capsys.readouterr().err


def test_bad_input_is_one_error_line_and_nothing_written(corpus_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["calibrate", "tiny:llama:2", "--data", str(corpus_file), "--field", "nope", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "no field 'nope'" in err and "question" in err
    assert (
        main(["calibrate", "tiny:llama:2", "--data", str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
    )
    assert "not found" in capsys.readouterr().err
    assert main(_args(corpus_file, out, "--seq-len", "100000")) == 2
    assert "context" in capsys.readouterr().err
    assert not out.exists()


def test_every_metric_option_of_the_schema_is_a_flag_and_a_setting():
    from fastprune.calibrate.runner import CalibrationConfig
    from fastprune.cli import build_parser
    from fastprune.importance.schema import METRICS, OPTION_HELP

    calibrate = build_parser()._subparsers._group_actions[0].choices["calibrate"]
    flags = {flag: action for action in calibrate._actions for flag in action.option_strings}
    config = CalibrationConfig()
    for option, help_text in OPTION_HELP.items():
        assert getattr(config, option) is False  # off by default
        assert flags["--" + option.replace("_", "-")].help == help_text
    assert {m.enabled_by for m in METRICS} - {None} == set(OPTION_HELP)
