#Requires -RunAsAdministrator
# @HEADER@
# Run it in an elevated PowerShell on the Hyper-V host. Passwords are asked for, never stored.
# Everything it creates gets fresh names (nestedhv-<new id>-...), so it never touches the run's
# VMs; it removes what it created at the end, unless -Keep is given.
[CmdletBinding()]
param(
    # keep the VMs and disks this script creates (to look at them); remove them yourself later
    [switch] $Keep
    # @PARAMS@
)
$ErrorActionPreference = 'Stop'
$RunId = [guid]::NewGuid().ToString('N').Substring(0, 6)
# @CREDENTIALS@

function Write-Step([string] $Text) { $Host.UI.WriteLine("==> $Text") }

# The requirement the run failed, checked again on this host: throws the run's message when
# the condition still holds, says so when it no longer does.
function Assert-Requirement {
    param([string] $Id, [string] $Message, [string] $Required, [hashtable] $Found, [string] $VMName,
          [pscredential] $Credential)
    $failing = switch ($Id) {
        'host.hypervisor' { -not (Get-CimInstance -ClassName 'Win32_ComputerSystem').HypervisorPresent }
        'host.hyperv-role' { (Get-Service -Name 'vmms' -ErrorAction SilentlyContinue).Status -ne 'Running' }
        'host.bcd' { (-join (bcdedit /enum)) -match 'OFFERNESTEDVIRT=FALSE' }
        'host.config-version' {
            $highest = [version]'0.0'
            foreach ($v in (Get-VMHostSupportedVersion).Version) { if ([version]$v -gt $highest) { $highest = [version]$v } }
            ($Required -match '(\d+\.\d+)') -and $highest -lt [version]$Matches[1]
        }
        'vm.config-version' {
            ($Required -match '(\d+\.\d+)') -and [version](Get-VM -Name $VMName).Version -lt [version]$Matches[1]
        }
        'vm.expose-extensions' { -not (Get-VMProcessor -VMName $VMName).ExposeVirtualizationExtensions }
        'vm.dynamic-memory' { (Get-VMMemory -VMName $VMName).DynamicMemoryEnabled }
        'vm.checkpoints' { $null -ne (Get-VM -Name $VMName).ParentCheckpointId }
        'vm.saved-state' { (Get-VM -Name $VMName).State -eq 'Saved' }
        'vm.mac-spoofing' {
            @(Get-VMNetworkAdapter -VMName $VMName | Where-Object -Property MacAddressSpoofing -NE -Value 'On').Count -gt 0
        }
        'guest.extensions-visible' {
            $cpu = Invoke-Command -VMName $VMName -Credential $Credential -ScriptBlock { Get-CimInstance -ClassName 'Win32_Processor' }
            -not $cpu.VMMonitorModeExtensions
        }
        'guest.hypervisor' {
            $cs = Invoke-Command -VMName $VMName -Credential $Credential -ScriptBlock { Get-CimInstance -ClassName 'Win32_ComputerSystem' }
            -not $cs.HypervisorPresent
        }
        default { $null }
    }
    if ($null -eq $failing) {
        throw "$Message (this script replays the calls up to the failure but cannot judge $Id by itself: compare with the run's evidence)"
    }
    if ($failing) { throw $Message }
    Write-Step "$Id holds on this host now: the run's failure did not reproduce"
}

$created = @()  # VMs on this host, in creation order
$disks = @()  # their differencing disks
try {
    # @STEPS@
}
finally {
    if ($Keep) {
        Write-Step "kept (-Keep): $(($created + $disks) -join ', ')"
    }
    elseif ($created -or $disks) {
        Write-Step "cleanup: removing $(($created + $disks) -join ', ')"
        $ErrorActionPreference = 'Continue'
        [array]::Reverse($created)
        foreach ($vm in $created) {
            Stop-VM -Name $vm -TurnOff -Force
            Remove-VM -Name $vm -Force
        }
        foreach ($disk in $disks) { Remove-Item -Path $disk -Force }
    }
}
