param([Parameter(Mandatory)][string]$VMName, [Parameter(Mandatory)][pscredential]$Credential,
      [Parameter(Mandatory)][string]$Command, [hashtable]$Parameters = @{})
Invoke-Command -VMName $VMName -Credential $Credential -ScriptBlock { param($c, $p) & $c @p } -ArgumentList $Command, $Parameters
