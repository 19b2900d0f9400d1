#Requires -RunAsAdministrator
<#
.SYNOPSIS
Opens the prexmon exporter's port in Windows Firewall, for the given sources only.

.DESCRIPTION
The exporter installs its service itself, through the service control
manager ("exporter.exe service install", see README.md). This script only
adds what the exporter cannot: the inbound firewall rule prexmon-exporter-in,
TCP on the listen port, for exporter.exe only, from -AllowedSources only.
Running it again replaces the rule.

.EXAMPLE
.\install.ps1 -AllowedSources 10.0.0.10,10.0.0.11
Prometheus (10.0.0.10) and the archiver (10.0.0.11) may reach port 9110.

.EXAMPLE
.\install.ps1 -AllowedSources 10.0.0.0/24 -ListenAddress ":9182"
#>
[CmdletBinding()]
param(
    # Addresses or CIDR ranges allowed to reach the exporter (Prometheus, the archiver).
    [Parameter(Mandatory = $true)]
    [string[]] $AllowedSources,

    # --web.listen-address the service runs with.
    [string] $ListenAddress = ':9110',

    # The installed exporter; the rule applies to this program only.
    [string] $Program = (Join-Path $env:ProgramFiles 'prexmon\exporter.exe'),

    [string] $ServiceName = 'prexmon-exporter'
)

$ErrorActionPreference = 'Stop'

if ($ListenAddress -notmatch ':(\d+)$') {
    throw "cannot find a port in -ListenAddress '$ListenAddress' (expected host:port or :port)"
}
$port = [int]$Matches[1]
$ruleName = "$ServiceName-in"

Get-NetFirewallRule -Name $ruleName -ErrorAction SilentlyContinue | Remove-NetFirewallRule
New-NetFirewallRule -Name $ruleName -DisplayName "prexmon exporter (TCP $port)" `
    -Direction Inbound -Action Allow -Protocol TCP -LocalPort $port `
    -RemoteAddress $AllowedSources -Program $Program -Profile Any | Out-Null
Write-Host "Firewall rule ${ruleName}: TCP $port to $Program from $($AllowedSources -join ', ')"
