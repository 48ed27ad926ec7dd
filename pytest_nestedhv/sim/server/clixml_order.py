"""Element order of CLIXML objects as Windows PowerShell writes them.

psrpcore writes an object's <ToString> after its members and an enum's value before its type
names; Windows writes <TN>/<TNRef>, then <ToString>, then the value or container, then
<Props> and <MS> (every recorded message in pypsrp's tests/tests_pypsrp/responses).
A client that reads the XML in order (pypsrp does, for enums) sees the difference.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

_RANK = {"TN": 0, "TNRef": 0, "ToString": 1, "Props": 3, "MS": 4}  # anything else (value, LST, DCT...): 2


def _reorder(element: ET.Element) -> None:
    for child in element:
        _reorder(child)
    if element.tag == "Obj" and len(element) > 1:
        children = sorted(element, key=lambda c: _RANK.get(c.tag, 2))  # stable: keeps the order within a rank
        if children != list(element):
            element[:] = children


# members of a message whose order psrpcore's class declares differently (recorded order)
MEMBER_ORDER = {"SessionCapability": ["protocolversion", "PSVersion", "SerializationVersion"]}


def windows_order(xml: bytes, members: list[str] | None = None) -> bytes:
    """One serialized PSRP message body with its objects' children in Windows' order; ``members``
    the order of the message's own members where it differs."""
    if b"<ToString>" not in xml and not members:  # nothing psrpcore places differently
        return xml
    root = ET.fromstring(xml)
    _reorder(root)
    section = root.find("MS")
    if members and section is not None:
        rank = {name: i for i, name in enumerate(members)}
        section[:] = sorted(section, key=lambda c: rank.get(c.get("N", ""), len(rank)))
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)
