"""The WinRM service configuration a WSMan Get of winrm/config returns (pypsrp's WSMan.get_server_config).

Values are a stock Windows Server's defaults as recorded in pypsrp's
tests/tests_pypsrp/responses/test_wsman_update_envelope_size_*.yml, except what the emulator
itself decides: the envelope limit it enforces and the authentication it accepts.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

CONFIG_NS = "http://schemas.microsoft.com/wbem/wsman/1/config"
MAX_ENVELOPE_KB = 500  # WinRM's default MaxEnvelopeSizekb; the transport enforces it
ET.register_namespace("cfg", CONFIG_NS)

Tree = list[tuple[str, "str | Tree"]]


def _tree(auth: str) -> Tree:
    basic = "true" if auth == "basic" else "false"
    return [
        ("MaxEnvelopeSizekb", str(MAX_ENVELOPE_KB)),
        ("MaxTimeoutms", "60000"),
        ("MaxBatchItems", "32000"),
        ("MaxProviderRequests", "4294967295"),
        ("Client", [
            ("NetworkDelayms", "5000"), ("URLPrefix", "wsman"), ("AllowUnencrypted", "false"),
            ("Auth", [("Basic", "true"), ("Digest", "true"), ("Kerberos", "true"), ("Negotiate", "true"),
                      ("Certificate", "true"), ("CredSSP", "false")]),
            ("DefaultPorts", [("HTTP", "5985"), ("HTTPS", "5986")]),
            ("TrustedHosts", ""),
        ]),
        ("Service", [
            ("RootSDDL", "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"),
            ("MaxConcurrentOperations", "4294967295"), ("MaxConcurrentOperationsPerUser", "1500"),
            ("EnumerationTimeoutms", "240000"), ("MaxConnections", "300"), ("MaxPacketRetrievalTimeSeconds", "120"),
            ("AllowUnencrypted", "false"),
            ("Auth", [("Basic", basic), ("Kerberos", "true"), ("Negotiate", "true"), ("Certificate", "false"),
                      ("CredSSP", "true"), ("CbtHardeningLevel", "Relaxed")]),
            ("DefaultPorts", [("HTTP", "5985"), ("HTTPS", "5986")]),
            ("IPv4Filter", "*"), ("IPv6Filter", "*"), ("EnableCompatibilityHttpListener", "false"),
            ("EnableCompatibilityHttpsListener", "false"), ("CertificateThumbprint", ""), ("AllowRemoteAccess", "true"),
        ]),
        ("Winrs", [
            ("AllowRemoteShellAccess", "true"), ("IdleTimeout", "7200000"), ("MaxConcurrentUsers", "2147483647"),
            ("MaxShellRunTime", "2147483647"), ("MaxProcessesPerShell", "2147483647"),
            ("MaxMemoryPerShellMB", "2147483647"), ("MaxShellsPerUser", "2147483647"),
        ]),
    ]


def _fill(parent: ET.Element, tree: Tree) -> None:
    for name, value in tree:
        child = ET.SubElement(parent, f"{{{CONFIG_NS}}}{name}")
        if isinstance(value, list):
            _fill(child, value)
        else:
            child.text = value


def config_element(auth: str) -> ET.Element:
    root = ET.Element(f"{{{CONFIG_NS}}}Config")
    _fill(root, _tree(auth))
    return root
