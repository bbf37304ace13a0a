"""``RUN/manifest.json``: what each step ran (its stage options), on what, what it wrote, how long it took,
and its status.

The manifest is rewritten atomically after every status change, so a killed run leaves a manifest that
says exactly which step was running; the next invocation skips finished steps and re-enters that one
(every stage command resumes from its own state).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.provenance import code_version
from fastprune.utils_io import atomic_write_json, sha256_file


class Manifest:
    def __init__(self, run_dir: Path, config: dict, redo_sections: frozenset[str] = frozenset()):
        """Open or create the manifest of ``run_dir`` for ``config``.

        An existing run must have the same config, except in ``redo_sections`` (the config sections of the
        stages being redone with ``--from``): finished earlier stages stay valid only for their own config.
        """
        self.path = run_dir / "manifest.json"
        self.data: dict = {"config": config, "steps": {}}
        if self.path.is_file():
            try:
                old = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise FastpruneError(f"{self.path} is corrupt ({exc}); remove it to start the run over") from exc
            if any("argv" in step for step in old.get("steps", {}).values()):
                raise FastpruneError(
                    f"{run_dir} holds a run of an earlier fastprune, which recorded each step as a command line "
                    f"(argv); this one records each stage's options and cannot tell whether those steps match "
                    f"them: use a new --out (or remove {self.path} to redo every step here)")
            old_config = old.get("config", {})
            changed = sorted(k for k in set(old_config) | set(config)
                             if old_config.get(k) != config.get(k) and k not in redo_sections)
            if changed:
                raise FastpruneError(
                    f"{run_dir} holds a run with another config (changed: {', '.join(changed)}); use a new --out, "
                    f"or --from the first stage whose settings changed (--from calibrate redoes everything)"
                )
            old["config"] = config
            self.data = old

    @property
    def steps(self) -> dict:
        return self.data["steps"]

    def is_done(self, name: str) -> bool:
        return self.steps.get(name, {}).get("status") == "done"

    def start(self, name: str, stage: str, options: dict, command: list[str] | None = None) -> None:
        """``options``: the stage options the step runs with, as a mapping (what ran); ``command``: the
        ``fastprune`` arguments that run the same step by hand (for people; not read back)."""
        step = self.steps.setdefault(name, {})
        step.update({"stage": stage, "status": "running", "options": options, "command": command,
                     "code": code_version(), "started": time.time()})
        step.setdefault("attempts", 0)
        step["attempts"] += 1
        self.save()

    def finish(self, name: str, outputs: list[Path], seconds: float) -> None:
        step = self.steps[name]
        step.update({
            "status": "done", "finished": time.time(), "seconds": round(seconds, 2),
            "outputs": {str(p): _digest(p) for p in outputs},
        })
        self.save()

    def fail(self, name: str, message: str) -> None:
        self.steps[name].update({"status": "failed", "error": message, "finished": time.time()})
        self.save()

    def forget(self, names: list[str]) -> None:
        for name in names:
            self.steps.pop(name, None)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def _digest(path: Path) -> str | None:
    """sha256 of a file; for a directory, of its config.json or the first JSON it holds."""
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        for name in ("config.json", "importance.json", "scores.json", "bench.json"):
            if (path / name).is_file():
                return sha256_file(path / name)
    return None
