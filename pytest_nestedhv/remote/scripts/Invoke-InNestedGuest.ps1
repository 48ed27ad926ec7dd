param([Parameter(Mandatory)][string]$VMName, [Parameter(Mandatory)][pscredential]$Credential,
      [Parameter(Mandatory)][string]$InnerVMName, [Parameter(Mandatory)][pscredential]$InnerCredential,
      [Parameter(Mandatory)][string]$Command, [hashtable]$Parameters = @{})
Invoke-Command -VMName $VMName -Credential $Credential -ScriptBlock {
    param($vm, $cred, $c, $p)
    Invoke-Command -VMName $vm -Credential $cred -ScriptBlock { param($c, $p) & $c @p } -ArgumentList $c, $p
} -ArgumentList $InnerVMName, $InnerCredential, $Command, $Parameters
