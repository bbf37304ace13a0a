"""fastprune.log and the command line's -v/-q: what each level shows, on a real (tiny) calibration."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest

from fastprune import log
from fastprune.cli import build_parser, main


@pytest.fixture
def corpus(tmp_path):
    """Rows longer than the sequence length used below, so an unpacked calibration truncates (a warning)."""
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": f"Example {i}: " + "words " * 6}) + "\n" for i in range(6)))
    return path


def calibrate_args(corpus, out, *extra):
    return ["calibrate", "tiny:llama:2", "--data", str(corpus), "--out", str(out), "--no-pack", "--seq-len", "8",
            "--batch-size", "2", "--max-tokens", "40", "--dtype", "float32", "--device", "cpu", *extra]


TRUNCATED = "examples were longer than --seq-len 8 and were truncated"  # a warning
DONE = "is already done"  # an info message
DEBUG = "CPU threads"  # the CLI's debug line


def test_configure_keeps_one_handler_and_sets_the_level():
    logger = logging.getLogger("fastprune")
    for verbosity, level in [(log.QUIET, logging.WARNING), (log.VERBOSE, logging.DEBUG), (log.DEFAULT, logging.INFO)]:
        log.configure(verbosity)
        assert logger.level == level and log.configured() == verbosity
    assert sum(isinstance(h, log.StderrHandler) for h in logger.handlers) == 1
    with pytest.raises(ValueError, match="verbosity"):
        log.configure(2)


def test_messages_are_plain_lines_on_the_stderr_of_the_moment():
    child = logging.getLogger("fastprune.some.module")
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        child.info("note: 50% done")  # no %-formatting without arguments, as print did
        child.debug("hidden at the default level")
    assert buffer.getvalue() == "note: 50% done\n"


def test_default_shows_info_progress_and_warnings_not_debug(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(calibrate_args(corpus, out)) == 0
    err = capsys.readouterr().err
    assert TRUNCATED in err and "calibrate" in err and DEBUG not in err  # "calibrate": the progress bar
    assert main(calibrate_args(corpus, out, "--no-progress")) == 0
    assert DONE in capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_hides_info_and_progress_but_keeps_warnings_and_errors(corpus, tmp_path, capsys, where):
    out = tmp_path / "run"
    argv = ["-q", *calibrate_args(corpus, out)] if where == "before" else [*calibrate_args(corpus, out), "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert TRUNCATED in err and "tok/s" not in err and "calibrate" not in err.replace(str(out), "")
    assert main(["-q", *calibrate_args(corpus, out)]) == 0
    assert capsys.readouterr().err == ""  # "already done" is info
    assert main(["-q", *calibrate_args(corpus, out, "--seq-len", "100000")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_shows_debug_messages(corpus, tmp_path, capsys, where):
    argv = calibrate_args(corpus, tmp_path / "run", "--no-progress")
    assert main(["-v", *argv] if where == "before" else [*argv, "--verbose"]) == 0
    err = capsys.readouterr().err
    assert DEBUG in err and TRUNCATED in err


def test_verbose_and_quiet_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["-v", "-q", "env"])
    assert "not allowed with" in capsys.readouterr().err


def test_a_stage_option_of_the_same_name_keeps_its_meaning():
    """prune has its own --quiet (no progress bars); -q after prune is the global switch."""
    args = build_parser().parse_args(["prune", "m", "--strategy", "bi", "--drop", "1", "--quiet"])
    assert args.progress is False and args.verbosity is None
    args = build_parser().parse_args(["prune", "m", "--strategy", "bi", "--drop", "1", "-q"])
    assert args.verbosity == log.QUIET and args.progress is True


@pytest.mark.parametrize(("argv", "name", "off"), [
    (["prune", "m", "--strategy", "bi", "--drop", "1"], "progress", False),
    (["eval", "m", "--tasks", "arith"], "progress", False),
    (["generate", "m", "--prompts", "p.jsonl", "--out", "o.jsonl"], "progress", False),
])
def test_quiet_turns_every_stages_progress_bars_off(monkeypatch, argv, name, off):
    import importlib

    seen = {}
    module = importlib.import_module({"eval": "fastprune.evaluate.cli"}.get(argv[0], f"fastprune.{argv[0]}.cli"))
    monkeypatch.setattr(module, "run", lambda args: seen.update(vars(args)) or 0)
    assert main(argv) == 0 and seen[name] is not off
    assert main(["-q", *argv]) == 0 and seen[name] is off
    log.configure(log.QUIET)  # as `fastprune -q run` leaves it for the stages it runs
    assert main(argv, raise_errors=True) == 0 and seen[name] is off


def test_a_command_run_by_fastprune_run_keeps_the_runs_level(capsys):
    log.configure(log.QUIET)
    assert main(["env", "--json"], raise_errors=True) == 0
    assert logging.getLogger("fastprune").level == logging.WARNING
    assert main(["-v", "env", "--json"], raise_errors=True) == 0
    assert logging.getLogger("fastprune").level == logging.DEBUG
    assert main(["env", "--json"]) == 0  # a top-level command starts from the default
    assert logging.getLogger("fastprune").level == logging.INFO
    capsys.readouterr()
