"""Roles and features: Get-/Install-WindowsFeature (server SKUs) and the DISM optional-feature cmdlets."""
from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from ..model import outage
from ..model.state import Node, wildcard_match
from ..powershell.cmdlet import Call, Impl
from ..powershell.errors import PSError, command_not_found
from ..powershell.values import EnumValue
from ._common import as_list, changed, now
from ._reference import plain_object
from .system import restart_node, virtualization_offered

SM = "Microsoft.Windows.ServerManager.Commands."
DISM = "Microsoft.Dism.Commands."
HYPERV_TOOLS = ["RSAT-Hyper-V-Tools", "Hyper-V-Tools", "Hyper-V-PowerShell"]
# (name, display name, feature type, parent) of the server features the model lists
SERVER_FEATURES = [
    ("FileAndStorage-Services", "File and Storage Services", "Role", None),
    ("Hyper-V", "Hyper-V", "Role", None),
    ("PowerShellRoot", "Windows PowerShell", "Feature", None),
    ("RSAT-Hyper-V-Tools", "Hyper-V Management Tools", "Feature", "RSAT-Role-Tools"),
    ("Hyper-V-Tools", "Hyper-V GUI Management Tools", "Feature", "RSAT-Hyper-V-Tools"),
    ("Hyper-V-PowerShell", "Hyper-V Module for Windows PowerShell", "Feature", "RSAT-Hyper-V-Tools"),
]
ALWAYS_INSTALLED = {"FileAndStorage-Services", "PowerShellRoot"}
# DISM optional feature name -> the model's feature names it installs
OPTIONAL_FEATURES: dict[str, list[str]] = {
    "Microsoft-Hyper-V-All": ["Hyper-V", *HYPERV_TOOLS],
    "Microsoft-Hyper-V": ["Hyper-V"],
    "Microsoft-Hyper-V-Hypervisor": ["Hyper-V"],
    "Microsoft-Hyper-V-Services": ["Hyper-V"],
    "Microsoft-Hyper-V-Tools-All": HYPERV_TOOLS,
    "Microsoft-Hyper-V-Management-PowerShell": ["Hyper-V-PowerShell"],
    "Microsoft-Hyper-V-Management-Clients": ["Hyper-V-Tools"],
}


def _removed(call: Call) -> set[str]:
    """Features whose payload the guest image lacks ([guest] hyperv_install = "no-tools")."""
    node, image = call.ctx.node, call.ctx.world.guest_image
    return set(HYPERV_TOOLS) if node.depth and image.hyperv_install == "no-tools" else set()


def _install_state(node: Node, name: str, removed: Collection[str] = ()) -> tuple[str, int]:
    # assumption: InstallState numbers (Available 0, Installed 1, InstallPending 2, Removed 3)
    if name in ALWAYS_INSTALLED or node.has_feature(name):
        return "Installed", 1
    if node.has_pending_feature(name):
        return "InstallPending", 2
    if name in removed:
        return "Removed", 3
    return "Available", 0


def _require_server(call: Call) -> None:
    if call.ctx.node.os.installation_type != "Server":
        raise command_not_found(call.name)  # the ServerManager module ships with server SKUs only


def feature_out(node: Node, name: str, display: str, ftype: str, parent: str | None,
                removed: Collection[str] = ()) -> Any:
    state, value = _install_state(node, name, removed)
    return plain_object([f"{SM}Feature"], {
        "Name": name, "DisplayName": display, "Description": f"{display}.", "Installed": state == "Installed",
        "InstallState": EnumValue(f"{SM}InstallState", state, value), "FeatureType": ftype,
        "Path": f"{parent}\\{display}" if parent else display, "Depth": 2 if parent else 1, "DependsOn": [],
        "Parent": parent, "ServerComponentDescriptor": None, "SubFeatures": [], "SystemService": [],
        "Notification": [], "BestPracticesModelId": None, "EventQuery": None, "PostConfigurationNeeded": False,
        "AdditionalInfo": {},
    }, to_string=name)


def get_windows_feature(call: Call) -> Iterator[Any]:
    _require_server(call)
    names = call.params.get("Name")
    with call.ctx.world.lock:
        now(call)
        outs = [feature_out(call.ctx.node, *f, removed=_removed(call)) for f in SERVER_FEATURES
                if not names or any(wildcard_match(n, f[0]) for n in names)]
    yield from outs


def _feature_names(values: Any) -> list[str]:
    return [getattr(v, "get", lambda _k: v)("Name") if not isinstance(v, str) else v for v in as_list(values)]


def _result(success: bool, restart: str, exit_code: tuple[str, int], features: list[str]) -> Any:
    # assumption: RestartState numbers (No 0, Yes 1, Maybe 2) and ExitCode Failed = 1
    return plain_object([f"{SM}FeatureOperationResult"], {
        "Success": success, "RestartNeeded": EnumValue(f"{SM}RestartState", restart, {"No": 0, "Yes": 1}[restart]),
        "FeatureResult": [plain_object([f"{SM}FeatureResult"], {
            "Id": 20, "Name": f, "DisplayName": next((d for n, d, _, _ in SERVER_FEATURES if n == f), f),
            "Message": "", "RestartNeeded": restart == "Yes", "SkipReason": EnumValue(f"{SM}SkipReason", "NotSkipped", 0),
            "Success": success}, to_string=f) for f in features],
        "ExitCode": EnumValue(f"{SM}FeatureOperationExitCode", *exit_code),
    })


def install_windows_feature(call: Call) -> Iterator[Any]:
    _require_server(call)
    world, node = call.ctx.world, call.ctx.node
    wanted = _feature_names(call.params["Name"])
    removed = _removed(call)
    if any(n.lower() in {r.lower() for r in removed} for n in wanted):  # asked by name for a removed payload
        call.write_error(_source_missing(f"{SM}AddWindowsFeatureCommand", "DISMAPI_Error__Cbs_Download_Failure",
                                         "Installation of one or more roles, role services, or features failed.\n"))
        yield _result(False, "No", ("Failed", 1), [])
        return
    if call.params.get("IncludeManagementTools") and any(n.lower() == "hyper-v" for n in wanted):
        # assumption: management tools whose payload the image lacks are skipped with a warning
        # (the role itself installs), rather than failing the whole operation
        wanted += [t for t in HYPERV_TOOLS if t not in removed]
    with world.lock:
        now(call)
        todo = [n for n in dict.fromkeys(wanted) if _install_state(node, n, removed)[0] == "Available"]
        if not todo:
            yield _result(True, "No", ("NoChangeNeeded", 1003), [])
            return
        if any(n.lower() == "hyper-v" for n in todo):
            problem = None
            if node.hypervisor_running or node.vbs == "running":
                problem = "Hyper-V cannot be installed: A hypervisor is already running."
            elif not virtualization_offered(call, node):
                problem = "Hyper-V cannot be installed: The processor does not have required virtualization capabilities."
            if problem is not None:
                call.write_error(PSError(f"A prerequisite check for the Hyper-V feature failed.\n1. {problem}",
                                         category="InvalidOperation",
                                         fqid=f"Alteration_PrerequisiteCheck_Failed,{SM}AddWindowsFeatureCommand",
                                         target="Hyper-V", exception_type="System.Exception", reason="Exception"))
                yield _result(False, "No", ("Failed", 1), [])
                return
    _install_wait(call)
    with world.lock:
        now(call)
        if node.depth and world.guest_image.hyperv_install == "fail":
            call.write_error(_source_missing(f"{SM}AddWindowsFeatureCommand",
                                             "DISMAPI_Error__Cbs_Download_Failure",
                                             "Installation of one or more roles, role services, or features failed.\n"))
            yield _result(False, "No", ("Failed", 1), [])
            return
        role = [n for n in todo if n.lower() == "hyper-v"]
        node.pending_features += role
        node.features += [n for n in todo if n not in role]  # management tools work without a restart
        changed(call)
    if removed and call.params.get("IncludeManagementTools"):
        call.write_warning(f"The management tools could not be installed: the payload of {', '.join(sorted(removed))} "
                           "has been removed from this image.")
    if role and call.params.get("Restart"):
        restart_node(call, node)
    elif role:
        call.write_warning("You must restart this server to finish the installation process.")
    yield _result(True, "Yes" if role else "No", ("SuccessRestartRequired", 3010) if role else ("Success", 0), todo)


def _install_wait(call: Call) -> None:
    """The modelled time an install takes; [faults] host_restart_at = "hyperv-installed" restarts the
    host half way through an install in a guest."""
    world, node = call.ctx.world, call.ctx.node
    seconds = world.guest_image.hyperv_install_seconds if node.depth else 60.0
    if node.depth and world.faults.host_restart_at == "hyperv-installed":
        world.sleep(seconds / 2, call.ctx.cancel)
        with world.lock:
            outage.maybe_restart(world, "hyperv-installed", now(call))
        seconds /= 2
    world.sleep(seconds, call.ctx.cancel)


def _source_missing(command: str, fqid: str, prefix: str = "") -> PSError:
    return PSError(f"{prefix}The source files could not be found. \nUse the \"Source\" option to specify the "
                   "location of the files that are required to restore the feature. For more information on "
                   "specifying a source location, see https://go.microsoft.com/fwlink/?LinkId=243077. "
                   "Error: 0x800f081f", category="ObjectNotFound", fqid=f"{fqid},{command}",
                   exception_type="System.Runtime.InteropServices.COMException", reason="COMException")


def _optional_state(node: Node, name: str) -> tuple[str, int]:
    installs = OPTIONAL_FEATURES[name]
    if all(node.has_feature(f) for f in installs):
        return "Enabled", 2
    if all(node.has_feature(f) or node.has_pending_feature(f) for f in installs):
        return "EnablePending", 3
    return "Disabled", 0


def _dism_common(node: Node, restart_needed: bool = False) -> dict[str, Any]:
    return {"Path": None, "Online": True, "WinPath": None, "SysDrivePath": None, "RestartNeeded": restart_needed,
            "LogPath": "C:\\Windows\\Logs\\DISM\\dism.log", "ScratchDirectory": None,
            "LogLevel": EnumValue(f"{DISM}LogLevel", "WarningsInfo", 3)}


def get_windows_optional_feature(call: Call) -> Iterator[Any]:
    node = call.ctx.node
    name = call.params.get("FeatureName")
    with call.ctx.world.lock:
        now(call)
        if name is None:
            outs = [plain_object([f"{DISM}BasicFeatureObject", f"{DISM}BaseDismObject"], {
                "FeatureName": n, "State": EnumValue(f"{DISM}FeatureState", *_optional_state(node, n)),
                **_dism_common(node)}, to_string=n) for n in OPTIONAL_FEATURES]
        else:
            known = next((n for n in OPTIONAL_FEATURES if n.lower() == name.lower()), None)
            if known is None:
                outs = []  # assumption: an unknown name yields nothing
            else:
                outs = [plain_object([f"{DISM}AdvancedFeatureObject", f"{DISM}BasicFeatureObject",
                                      f"{DISM}BaseDismObject"], {
                    "FeatureName": known, "DisplayName": "Hyper-V" if known == "Microsoft-Hyper-V" else known,
                    "Description": "Hyper-V and the tools to manage it.",
                    "RestartRequired": EnumValue(f"{DISM}RestartType", "Possible", 1),
                    "State": EnumValue(f"{DISM}FeatureState", *_optional_state(node, known)),
                    "CustomProperties": [], **_dism_common(node)}, to_string=known)]
    yield from outs


def enable_windows_optional_feature(call: Call) -> Iterator[Any]:
    world, node = call.ctx.world, call.ctx.node
    command = f"{DISM}EnableWindowsOptionalFeatureCommand"
    names = call.params["FeatureName"]
    installs: list[str] = []
    for name in names:
        known = next((n for n in OPTIONAL_FEATURES if n.lower() == name.lower()), None)
        if known is None:
            raise PSError(f"Feature name {name} is unknown.", category="NotSpecified", fqid=command,
                          exception_type="System.Runtime.InteropServices.COMException", reason="COMException",
                          terminating=True)
        if known != "Microsoft-Hyper-V-All" and "Hyper-V" in OPTIONAL_FEATURES[known] and not call.params.get("All"):
            raise PSError("One or several parent features are disabled so current feature can not be enabled.",
                          category="NotSpecified", fqid=command,
                          exception_type="System.Runtime.InteropServices.COMException", reason="COMException",
                          terminating=True)
        if OPTIONAL_FEATURES[known] and set(OPTIONAL_FEATURES[known]) <= _removed(call):
            raise _with_terminating(_source_missing(command, "DismException"))  # asked for a removed payload
        installs += OPTIONAL_FEATURES[known] + (HYPERV_TOOLS if call.params.get("All") else [])
    # assumption: with -All, DISM enables what it can and skips the tools whose payload was removed
    installs = [f for f in installs if f not in _removed(call)]
    with world.lock:
        now(call)
        todo = [f for f in dict.fromkeys(installs) if not (node.has_feature(f) or node.has_pending_feature(f))]
    if todo:
        _install_wait(call)
    with world.lock:
        now(call)
        if todo and node.depth and world.guest_image.hyperv_install == "fail":
            raise _with_terminating(_source_missing(command, "DismException"))
        # DISM stages everything for the next boot; the hypervisor only launches if the CPU is offered
        node.pending_features += todo
        changed(call)
    yield plain_object([f"{DISM}ImageObject", f"{DISM}BaseDismObject"], _dism_common(node, bool(todo)))


def _with_terminating(error: PSError) -> PSError:
    error.terminating = True
    return error


CMDLETS: dict[str, Impl] = {
    "Get-WindowsFeature": get_windows_feature,
    "Install-WindowsFeature": install_windows_feature,
    "Get-WindowsOptionalFeature": get_windows_optional_feature,
    "Enable-WindowsOptionalFeature": enable_windows_optional_feature,
}
