"""Run under torchrun by the distributed tests: ``python -m torch.distributed.run ... dist_worker.py JOBS.json``.

One process group serves several training runs (torchrun start-up and imports dominate a tiny run). Each job
is ``{"config": {TrainConfig fields}, "kill_after": step or null}``: with ``kill_after`` the run is stopped
after that step (as a kill would stop it) and then run again with the same settings, so it resumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from fastprune.train import TrainConfig, train


class Killed(Exception):
    pass


def main(path: str) -> None:
    dist.init_process_group("gloo")
    try:
        for job in json.loads(Path(path).read_text()):
            cfg = TrainConfig(**job["config"])
            kill_after = job.get("kill_after")
            if kill_after is not None:

                def stop(record, at=kill_after):
                    if record["step"] == at:
                        raise Killed

                try:
                    train(cfg, on_step=stop)
                    raise SystemExit(f"job {cfg.out}: the run was not stopped at step {kill_after}")
                except Killed:
                    pass
            train(TrainConfig(**job["config"]))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
