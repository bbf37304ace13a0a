"""models.devices: the one table of dtype names and the one reading of device names."""

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models.devices import DTYPES, auto_dtype, parse_dtype, resolve_device, resolve_dtype


def test_dtype_names_and_auto():
    assert parse_dtype("bf16") is parse_dtype("bfloat16") is torch.bfloat16
    assert {DTYPES[n] for n in DTYPES} == {torch.float32, torch.bfloat16, torch.float16}
    assert resolve_dtype("auto", torch.device("cpu")) is auto_dtype(torch.device("cpu")) is torch.float32
    assert auto_dtype(torch.device("cuda")) is torch.bfloat16
    assert resolve_dtype(torch.float16, torch.device("cpu")) is torch.float16
    with pytest.raises(FastpruneError, match=r"unknown --save-dtype 'int3'; use one of bf16, bfloat16"):
        parse_dtype("int3", "--save-dtype")


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    here = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto") == here
    with pytest.raises(FastpruneError, match=r"unknown --device 'gpu0'; use auto, cpu or cuda\[:N\]"):
        resolve_device("gpu0", "--device")
    if not torch.cuda.is_available():
        with pytest.raises(FastpruneError, match="--device cuda:1 requested but CUDA is not available"):
            resolve_device("cuda:1", "--device")


def test_train_setup_reads_devices_the_same_way():
    from fastprune.train.distributed import setup

    assert setup("cpu").device == torch.device("cpu")
    with pytest.raises(FastpruneError, match=r"unknown --device 'meta'"):
        setup("meta")
