"""Files the model knows: New-VHD (incl. differencing disks), Test-Path, Remove-Item."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model.state import DiskFile, normalize_path, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError
from ._common import changed, now, require_hyperv
from ._hvobjects import vhd_out
from .system import REGISTRY_KEYS, registry_values

VHD_FQID = "Microsoft.Vhd.PowerShell.Cmdlets.NewVhd"


def _vhd_error(message: str, category: str, target: str) -> PSError:
    # assumption: the detail lines follow the Win32 error texts a real host prints
    return PSError(f"Failed to create the virtual hard disk.\n{message}", category=category,
                   fqid=f"{category},{VHD_FQID}", target=target,
                   exception_type="Microsoft.HyperV.PowerShell.VirtualizationException")


def new_vhd(call: Call) -> Iterator[Any]:
    require_hyperv(call)
    node, p = call.ctx.node, call.params
    outs = []
    with call.ctx.world.lock:
        t = now(call)
        for path in p["Path"]:
            if node.file(path) is not None:
                call.write_error(_vhd_error(f"The system failed to create '{path}': The file exists. (0x80070050).",
                                            "ResourceExists", path))
                continue
            if p.get("ParentPath") is not None:
                parent = node.file(p["ParentPath"])
                if parent is None:
                    call.write_error(_vhd_error(
                        f"The system failed to create '{path}': The system cannot find the file specified. "
                        f"(0x80070002).\nThe parent virtual disk '{p['ParentPath']}' does not exist.",
                        "ObjectNotFound", path))
                    continue
                disk = DiskFile(path, parent.size_bytes, parent=parent.path, created=t)
                kind = "Differencing"
            else:
                disk = DiskFile(path, int(p["SizeBytes"]), created=t)
                kind = "Fixed" if p.get("Fixed") else "Dynamic"
            node.files.append(disk)
            outs.append(vhd_out(node, disk, kind))
    changed(call)
    yield from outs


def _directories(call: Call) -> set[str]:
    node = call.ctx.node
    dirs = {"c:", "c:\\windows", normalize_path(node.vm_path), normalize_path(node.vhd_path)}
    for path in [f.path for f in node.files] + [vm.path for vm in node.vms]:
        parts = normalize_path(path).split("\\")
        dirs.update("\\".join(parts[:i]) for i in range(1, len(parts)))
    dirs.update(normalize_path(vm.path) for vm in node.vms)
    return dirs


def _exists(call: Call, path: str, path_type: str | None) -> bool:
    key = normalize_path(path)
    files = [normalize_path(f.path) for f in call.ctx.node.files]
    containers = _directories(call) | {normalize_path(k) for k in REGISTRY_KEYS
                                       if registry_values(call.ctx.node, k) is not None}  # absent keys: not there
    leaf = any(wildcard_match(key, f) for f in files)
    container = any(wildcard_match(key, d) for d in containers)
    if path_type == "Leaf":
        return leaf
    if path_type == "Container":
        return container
    return leaf or container


def test_path(call: Call) -> Iterator[Any]:
    paths = call.params.get("Path") or call.params.get("LiteralPath") or []
    with call.ctx.world.lock:
        results = [_exists(call, p, call.params.get("PathType")) for p in paths]
    yield from results


def remove_item(call: Call) -> Iterator[Any]:
    node = call.ctx.node
    paths = call.params.get("Path") or call.params.get("LiteralPath") or []
    with call.ctx.world.lock:
        for path in paths:
            key = normalize_path(path)
            targets = [f for f in node.files if wildcard_match(key, normalize_path(f.path))
                       or normalize_path(f.path).startswith(key + "\\")]
            if not targets and key not in _directories(call):
                call.write_error(PSError(f"Cannot find path '{path}' because it does not exist.",
                                         category="ObjectNotFound",
                                         fqid="PathNotFound,Microsoft.PowerShell.Commands.RemoveItemCommand",
                                         target=path, exception_type="System.Management.Automation.ItemNotFoundException",
                                         reason="ItemNotFoundException"))
                continue
            for f in targets:
                users = [vm for vm in node.vms if vm.state != "Off"
                         and any(normalize_path(d.path) == normalize_path(f.path) for d in vm.disks)]
                in_chain = [c for c in node.files if c.parent and normalize_path(c.parent) == normalize_path(f.path)
                            and c not in targets]
                if users or in_chain:
                    call.write_error(PSError(
                        f"Cannot remove item {f.path}: The process cannot access the file '{f.path}' because it is "
                        "being used by another process.", category="WriteError",
                        fqid="RemoveFileSystemItemIOError,Microsoft.PowerShell.Commands.RemoveItemCommand",
                        target=f.path, exception_type="System.IO.IOException", reason="IOException"))
                    continue
                node.files.remove(f)
    changed(call)
    return iter(())


CMDLETS: dict[str, Impl] = {
    "New-VHD": new_vhd,
    "Test-Path": test_path,
    "Remove-Item": remove_item,
}
