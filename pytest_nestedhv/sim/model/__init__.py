"""The Hyper-V world behind the emulated host: nodes, VMs, disks, guests, events, a scaled clock.

``World.from_scenario(load_scenario("default"))`` builds one; ``world.host`` is the host ``Node``;
every read or change holds ``world.lock``; ``world.save(path)`` / ``World.load(path)`` persist it.
"""
from .state import VM, Node
from .world import World

__all__ = ["VM", "Node", "World"]
