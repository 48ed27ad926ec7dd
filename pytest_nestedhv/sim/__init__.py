"""The emulated Windows Hyper-V host: serves real WinRM/PSRP over HTTP(S).

Layers, each a sub-package with one job:
  server/      HTTP(S), authentication, WSMan SOAP, PSRP (psrpcore) -> engine requests
  powershell/  the engine: parameter binding from cmdlets.json, pipelines, errors, serialization
  cmdlets/     cmdlet implementations over the model
  model/       the Hyper-V world: nodes, VMs, disks, guests, events, scaled clock, persistence
  scenarios/   shipped scenario files (TOML); schema in scenarios/README.md
It shares no code with the plugin's client side.
"""
