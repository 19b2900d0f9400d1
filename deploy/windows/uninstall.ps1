#Requires -RunAsAdministrator
<#
.SYNOPSIS
Removes the firewall rule install.ps1 added.

.DESCRIPTION
The service itself is removed by "exporter.exe service uninstall" (see
README.md); this script only removes the inbound rule prexmon-exporter-in.
#>
[CmdletBinding()]
param(
    [string] $ServiceName = 'prexmon-exporter'
)

$ErrorActionPreference = 'Stop'

Get-NetFirewallRule -Name "$ServiceName-in" -ErrorAction SilentlyContinue | Remove-NetFirewallRule
Write-Host "Removed firewall rule $ServiceName-in (if it existed)"
