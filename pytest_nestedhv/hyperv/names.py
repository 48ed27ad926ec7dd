"""Names and tags of everything a run creates: the run id is in each name and in the VM Notes."""
from __future__ import annotations

import dataclasses

PREFIX = "nestedhv-"
RUN_TAG = "nestedhv-run:"
KEPT_TAG = "nestedhv-kept"  # a VM kept on purpose (--nested-keep): later sweeps leave it alone
# "<run id>.<n>": the n-th L1 shape a run built (@pytest.mark.nested_l1); run ids are hex, never dotted
SHAPE_SEP = "."


@dataclasses.dataclass(frozen=True)
class RunNames:
    run_id: str

    @property
    def l1(self) -> str:
        return f"{PREFIX}{self.run_id}-l1"

    @property
    def l2(self) -> str:
        return f"{PREFIX}{self.run_id}-l2"

    @property
    def negative(self) -> str:
        return f"{PREFIX}{self.run_id}-neg"

    def vm(self, suffix: str) -> str:
        """Another VM of this run (an L2 a test makes): ``nestedhv-<run id>-<suffix>``."""
        return suffix if suffix.startswith(PREFIX) else f"{PREFIX}{self.run_id}-{suffix}"

    @property
    def tag(self) -> str:
        return f"{RUN_TAG}{self.run_id}"

    def disk_name(self, vm_name: str) -> str:
        return f"{vm_name}.vhdx"

    def owns(self, notes: str) -> bool:
        return self.tag in (notes or "").split()


def run_id_of(notes: str) -> str | None:
    """The run id a VM's Notes carry, if any."""
    for word in (notes or "").split():
        if word.startswith(RUN_TAG):
            return word[len(RUN_TAG):]
    return None


def base_run_id(run_id: str) -> str:
    """The run a (shape) run id belongs to: ``ab12cd.2`` -> ``ab12cd``."""
    return run_id.split(SHAPE_SEP, 1)[0]


def shape_run_id(run_id: str, index: int) -> str:
    return f"{base_run_id(run_id)}{SHAPE_SEP}{index}"


def is_leftover(notes: str, current: RunNames) -> bool:
    """Tagged by an earlier run (not this one, nor one of this run's L1 shapes), not kept on purpose."""
    other = run_id_of(notes)
    return (other is not None and base_run_id(other) != base_run_id(current.run_id)
            and KEPT_TAG not in (notes or "").split())


def is_own_disk(path: str) -> bool:
    """Only files named like ours are ever deleted: never a base image or a user's disk."""
    base = path.replace("/", "\\").rsplit("\\", 1)[-1]
    return base.lower().startswith(PREFIX) and base.lower().endswith((".vhdx", ".avhdx", ".vhd"))


def join_path(directory: str, name: str) -> str:
    return directory.rstrip("\\/") + "\\" + name


def parent_dir(path: str) -> str:
    norm = path.replace("/", "\\")
    return norm.rsplit("\\", 1)[0] if "\\" in norm else "."
