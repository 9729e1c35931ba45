# laptop-agents on Windows (PowerShell): what `make run` and `make test` do on Linux and macOS.
#   powershell -ExecutionPolicy Bypass -File scripts\la.ps1 run    # set up .venv, a one-minute live-paper session
#   powershell -ExecutionPolicy Bypass -File scripts\la.ps1 test   # lint, types and the whole test suite
# Needs Python 3.11+ (the `py` launcher). Not run on a Windows machine yet: see docs/RUNBOOK.md.
param([Parameter(Mandatory = $true)][ValidateSet("run", "test", "backtest")][string]$Command)
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)
$Python = ".venv\Scripts\python.exe"
if (-not (Test-Path $Python)) {
    py -3 -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'laptop-agents needs Python 3.11 or newer')"
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    py -3 -m venv .venv
}
$Stamp = ".venv\.installed"
$Stale = (-not (Test-Path $Stamp)) -or ((Get-Item pyproject.toml).LastWriteTime -gt (Get-Item $Stamp).LastWriteTime) -or
    ((Get-Item requirements\dev.lock).LastWriteTime -gt (Get-Item $Stamp).LastWriteTime)
if ($Stale) {  # as the Makefile: every file from the lock, checked against its hash
    & $Python -m pip install --quiet --require-hashes --no-deps -r requirements\dev.lock; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    & $Python -m pip install --quiet --no-deps --no-build-isolation -e .; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    & $Python -m pip check; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    New-Item -ItemType File -Force $Stamp | Out-Null
}
switch ($Command) {
    "run" { & $Python -m laptop_agents run --profile demo --mode live-paper --duration 60 }
    "backtest" { & $Python -m laptop_agents run --profile demo }
    "test" {
        & $Python -m ruff check src tests bench scripts examples; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        & $Python -m ruff format --check src tests bench scripts examples; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        & $Python -m mypy --strict src; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        Remove-Item -Force -ErrorAction SilentlyContinue .coverage, .coverage.*
        & $Python -m pytest -q --cov --cov-report=; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        & $Python scripts/coverage_gate.py
    }
}
exit $LASTEXITCODE
