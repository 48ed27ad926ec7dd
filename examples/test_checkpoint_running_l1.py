"""Reproduces: a checkpoint of a running L1 with nested virtualization is refused or taken as the
host's build dictates. Preview builds (10565 to 14392) cannot save or checkpoint a running L1 and
say "... could not initiate a checkpoint operation ..."; from build 14393 (GA) the checkpoint is taken.

Fails on the emulated host ``--nested-host=sim:checkpoint-regression`` (a GA build that refuses):
"Checkpoint operation failed. '...-l1' could not initiate a checkpoint operation: ...".
"""
import pytest

from pytest_nestedhv import RemoteCommandError

FIRST_GA_BUILD = 14393
CHECKPOINT = "nestedhv-example-checkpoint"


def test_checkpoint_of_a_running_nested_l1(nested_host, nested_l1):
    assert nested_l1.state == "Running" and nested_l1.processor.ExposeVirtualizationExtensions
    if nested_host.facts.build < FIRST_GA_BUILD:
        with pytest.raises(RemoteCommandError, match="could not initiate a checkpoint operation"):
            nested_l1.checkpoint(CHECKPOINT)
        return
    snapshot = nested_l1.checkpoint(CHECKPOINT)
    try:
        assert snapshot.Name == CHECKPOINT
        assert nested_l1.refresh().info.ParentCheckpointName == CHECKPOINT
    finally:
        nested_host.run("Remove-VMSnapshot", VMName=nested_l1.name, Name=CHECKPOINT)
