import os
import time

import pytest

from fastprune.evaluate.sandbox import categorize, last_error_line, run_program, run_programs


@pytest.mark.parametrize(
    ("line", "category"),
    [
        ("SyntaxError: '(' was never closed", "unbalanced_brackets"),
        ("SyntaxError: unmatched ')'", "unbalanced_brackets"),
        ("SyntaxError: closing parenthesis ']' does not match opening parenthesis '('",
         "unbalanced_brackets"),
        ("SyntaxError: unexpected EOF while parsing", "unbalanced_brackets"),
        ("SyntaxError: invalid syntax", "syntax"),
        ("IndentationError: expected an indented block after function definition on line 3", "syntax"),
        ("NameError: name 'foo' is not defined", "undefined_name"),
        ("UnboundLocalError: cannot access local variable 'x'", "undefined_name"),
        ("AssertionError", "assertion"),
        ("AssertionError: wrong", "assertion"),
        ("TypeError: unsupported operand", "other"),
        ("MemoryError", "other"),
        ("", "other"),
    ],
)
def test_categorize(line, category):
    assert categorize(line) == category


def test_last_error_line_skips_traceback_frames():
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n    f()\nValueError: bad\n'
    assert last_error_line(tb) == "ValueError: bad"
    assert len(last_error_line("E" * 5000)) < 400


@pytest.mark.parametrize(
    ("code", "category", "error_part"),
    [
        ("assert sum([1, 2]) == 3\n", "passed", ""),
        ("def f(x:\n    return x\n", "unbalanced_brackets", "never closed"),
        ("x = [1, 2]]\n", "unbalanced_brackets", "unmatched"),
        ("x = (1, 2]\n", "unbalanced_brackets", "opening parenthesis"),
        ("def f(:\n  pass\n", "syntax", "SyntaxError"),
        ("print(undefined_thing)\n", "undefined_name", "undefined_thing"),
        ("assert 1 == 2, 'nope'\n", "assertion", "nope"),
        ("raise ValueError('boom')\n", "other", "boom"),
    ],
)
def test_run_program_categories(code, category, error_part):
    r = run_program(code, timeout=5)
    assert r.category == category and r.passed == (category == "passed")
    assert error_part in r.error


def test_infinite_loop_is_killed_on_time():
    start = time.monotonic()
    r = run_program("while True:\n    pass\n", timeout=1.0)
    assert r.category == "timeout" and not r.passed
    assert time.monotonic() - start < 10


def test_fork_exec_and_socket_are_blocked():
    for code in ("import os\nos.fork()\n", "import subprocess\nsubprocess.run(['true'])\n",
                 "import os\nos.system('true')\n",
                 "import socket\nsocket.create_connection(('127.0.0.1', 9))\n",
                 "import socket\ns = socket.socket()\n"):
        r = run_program(code, timeout=5)
        assert not r.passed and "blocked by the fastprune sandbox" in r.error, code


def test_memory_limit():
    r = run_program("x = bytearray(3 * 1024 ** 3)\n", timeout=10, memory_mb=512)
    assert not r.passed and "MemoryError" in r.error


def test_output_flood_does_not_fill_memory():
    r = run_program("import sys\nwhile True:\n    sys.stderr.write('e' * 100000)\n", timeout=3)
    assert not r.passed and len(r.error) < 400


def test_program_runs_in_fresh_private_dir_with_clean_env():
    code = ("import os\nassert os.listdir('.') == ['solution.py'], os.listdir('.')\n"
            "assert os.getcwd() == '/sandbox' == os.environ['HOME'], os.getcwd()\n"
            "assert 'HTTP_PROXY' not in os.environ and 'https_proxy' not in os.environ\n")
    os.environ["HTTP_PROXY"] = "http://proxy.invalid:1"
    try:
        r = run_program(code, timeout=5)
    finally:
        del os.environ["HTTP_PROXY"]
    assert r.passed, r.error


def test_run_programs_keeps_order_and_survives_bad_programs():
    programs = ["assert True", "while True: pass", "x = (", "assert False", "pass"]
    results = run_programs(programs, timeout=1.0, workers=2)
    want = ["passed", "timeout", "unbalanced_brackets", "assertion", "passed"]
    assert [r.category for r in results] == want
    assert run_programs([]) == []
