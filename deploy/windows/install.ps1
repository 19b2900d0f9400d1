#Requires -RunAsAdministrator
<#
.SYNOPSIS
Installs (or upgrades) the prexmon exporter as a Windows service.

.DESCRIPTION
Copies exporter.exe to -InstallDir, registers the service with automatic
start and restart-on-failure recovery, opens the listen port in Windows
Firewall for the given source addresses only, starts the service and checks
that /healthz answers. Running it again upgrades in place: the service is
stopped, the binary replaced and the settings re-applied.

.EXAMPLE
.\install.ps1 -AllowedSources 10.0.0.10,10.0.0.11
Prometheus (10.0.0.10) and the archiver (10.0.0.11) may scrape port 9110.

.EXAMPLE
.\install.ps1 -AllowedSources 10.0.0.0/24 -ListenAddress ":9182" -ExtraArgs '--web.config.file="C:\Program Files\prexmon\web.yml"'
#>
[CmdletBinding()]
param(
    # Addresses or CIDR ranges allowed to reach the exporter (Prometheus, the archiver).
    [Parameter(Mandatory = $true)]
    [string[]] $AllowedSources,

    # The exporter binary to install; by default exporter.exe beside this script.
    [string] $BinaryPath = (Join-Path $PSScriptRoot 'exporter.exe'),

    [string] $InstallDir = (Join-Path $env:ProgramFiles 'prexmon'),

    # --web.listen-address of the exporter.
    [string] $ListenAddress = ':9110',

    # Further exporter flags, e.g. --web.config.file=... or --no-collector.users.
    [string[]] $ExtraArgs = @(),

    [string] $ServiceName = 'prexmon-exporter'
)

$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $BinaryPath -PathType Leaf)) {
    throw "exporter binary not found: $BinaryPath"
}
if ($ListenAddress -notmatch ':(\d+)$') {
    throw "cannot find a port in -ListenAddress '$ListenAddress' (expected host:port or :port)"
}
$port = [int]$Matches[1]
$exe = Join-Path $InstallDir 'exporter.exe'
$ruleName = "$ServiceName-in"

# 1. Binary: stop an existing service first, or the copy fails on a locked file.
$existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($existing -and $existing.Status -ne 'Stopped') {
    Write-Host "Stopping $ServiceName for the upgrade"
    Stop-Service -Name $ServiceName -Force
    $existing.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
}
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
Copy-Item -LiteralPath $BinaryPath -Destination $exe -Force

# 2. Service: automatic start, running as LocalSystem (needed to read every
#    process's owner and command line and every session).
$argList = @("--web.listen-address=$ListenAddress") + $ExtraArgs
$binPath = '"{0}" {1}' -f $exe, ($argList -join ' ')
if ($existing) {
    # Written to the registry directly: Windows PowerShell 5.1 mangles the
    # embedded quotes when passing a path with spaces to sc.exe config.
    Set-ItemProperty -LiteralPath "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName" -Name ImagePath -Value $binPath
    Set-Service -Name $ServiceName -StartupType Automatic
} else {
    New-Service -Name $ServiceName -BinaryPathName $binPath -DisplayName 'prexmon exporter' `
        -Description 'prexmon agent: host metrics for Prometheus (/metrics) and snapshots for the archiver (/snapshot).' `
        -StartupType Automatic | Out-Null
}

# 3. Recovery: restart after 5 s, 10 s, then every minute; forget failures
#    after a day. failureflag 1 applies the actions also when the exporter
#    exits with an error status (a port in use, a bad web config), not only
#    when it crashes.
& sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/10000/restart/60000 | Out-Null
if ($LASTEXITCODE -ne 0) { throw "sc.exe failure failed ($LASTEXITCODE)" }
& sc.exe failureflag $ServiceName 1 | Out-Null
if ($LASTEXITCODE -ne 0) { throw "sc.exe failureflag failed ($LASTEXITCODE)" }

# 4. Firewall: inbound TCP to this program's port, from the given sources only.
Get-NetFirewallRule -Name $ruleName -ErrorAction SilentlyContinue | Remove-NetFirewallRule
New-NetFirewallRule -Name $ruleName -DisplayName "prexmon exporter (TCP $port)" `
    -Direction Inbound -Action Allow -Protocol TCP -LocalPort $port `
    -RemoteAddress $AllowedSources -Program $exe -Profile Any | Out-Null

# 5. Start and check.
Start-Service -Name $ServiceName
(Get-Service -Name $ServiceName).WaitForStatus('Running', [TimeSpan]::FromSeconds(30))
$probeHost = '127.0.0.1'
if ($ListenAddress -match '^([^:\[\]]+):\d+$' -and $Matches[1] -ne '0.0.0.0') { $probeHost = $Matches[1] }
$healthy = $false
for ($i = 0; $i -lt 20 -and -not $healthy; $i++) {
    try {
        $r = Invoke-WebRequest -UseBasicParsing -TimeoutSec 2 -Uri "http://${probeHost}:$port/healthz"
        $healthy = $r.StatusCode -eq 200
    } catch {
        Start-Sleep -Milliseconds 500
    }
}
$log = Join-Path $env:ProgramData 'prexmon\exporter.log'
if ($healthy) {
    Write-Host "$ServiceName is running on port $port; allowed sources: $($AllowedSources -join ', ')"
} else {
    Write-Warning "$ServiceName is running but http://${probeHost}:$port/healthz did not answer (TLS or basic auth configured?). See $log"
}
Write-Host "Log: $log"
