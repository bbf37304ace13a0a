import subprocess
import sys

from fastprune.cli import STAGES, TOOLS, main


def test_help_lists_every_stage_and_tool():
    out = subprocess.run([sys.executable, "-m", "fastprune", "--help"], capture_output=True, text=True, check=True)
    for name in (*STAGES, *TOOLS):
        assert name in out.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "stages and tools" in capsys.readouterr().out


def test_import_does_not_touch_cuda():
    code = (
        "import sys, fastprune, fastprune.models, fastprune.cli; "
        "import torch; assert not torch.cuda.is_initialized(); "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_help_does_not_import_torch():
    """Building every stage's parser must stay light: `fastprune --help` answers in a blink."""
    code = "import sys, fastprune.cli; fastprune.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
