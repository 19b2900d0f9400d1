#Requires -RunAsAdministrator
<#
.SYNOPSIS
Removes the prexmon exporter service and its firewall rule.

.DESCRIPTION
Stops and deletes the service and removes the firewall rule install.ps1
created. The installed binary and the logs stay unless -RemoveFiles and
-RemoveLogs say otherwise.
#>
[CmdletBinding()]
param(
    [string] $ServiceName = 'prexmon-exporter',
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'prexmon'),
    [switch] $RemoveFiles,
    [switch] $RemoveLogs
)

$ErrorActionPreference = 'Stop'

$svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($svc) {
    if ($svc.Status -ne 'Stopped') {
        Stop-Service -Name $ServiceName -Force
        $svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
    }
    & sc.exe delete $ServiceName | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "sc.exe delete failed ($LASTEXITCODE)" }
    Write-Host "Removed service $ServiceName"
} else {
    Write-Host "Service $ServiceName is not installed"
}

Get-NetFirewallRule -Name "$ServiceName-in" -ErrorAction SilentlyContinue | Remove-NetFirewallRule

if ($RemoveFiles -and (Test-Path -LiteralPath $InstallDir)) {
    Remove-Item -LiteralPath (Join-Path $InstallDir 'exporter.exe') -Force -ErrorAction SilentlyContinue
    if (-not (Get-ChildItem -LiteralPath $InstallDir -Force)) { Remove-Item -LiteralPath $InstallDir }
    Write-Host "Removed $InstallDir\exporter.exe"
}
if ($RemoveLogs) {
    Remove-Item -LiteralPath (Join-Path $env:ProgramData 'prexmon') -Recurse -Force -ErrorAction SilentlyContinue
    Write-Host "Removed $env:ProgramData\prexmon"
}
