"""The notifier as the embedded run wires it: to the lab's mail and SMS sinks, with dev contacts.

The notifier sends through the lab's SMTP sink (no AUTH, no TLS: loopback only) and its SMS
gateway sink, whose token it reads from the token's file at each send: the launcher never
reads that token, and no variable carries it. The sample's customer gets fictional contacts
(``example.com`` addresses, ``06 00 00 00 0x`` numbers) in a contacts file the launcher
writes on the first run (mode 0600: names and phones) and the notifier imports at start.
"""

from __future__ import annotations

import os
from typing import Final

from vigie_devstack.datadir import DataDir
from vigie_devstack.lab import RunningLab

__all__ = [
    "DEV_CONTACTS",
    "FROM_ADDRESS",
    "MESSAGE_DOMAIN",
    "OPERATOR",
    "TEAMS",
    "notifier_lab_environment",
    "write_dev_contacts",
]

OPERATOR: Final = "VIGIE-LAB"
"""The operator's name at the head of every subject and SMS of the dev run."""
MESSAGE_DOMAIN: Final = "vigie.lab.invalid"
"""The right-hand side of the dev run's Message-IDs (``.invalid``: never a real domain)."""
FROM_ADDRESS: Final = f"noreply@{MESSAGE_DOMAIN}"
FROM_NAME: Final = "Service Client Réseau (vigie lab)"
TEAMS: Final = {
    "SUPPORT": "SUPPORT N2, , support-n2@example.com;",
    "FIELD": "EQUIPE TERRAIN, , terrain@example.com;",
    "ESCALATION": "ESCALADE EDS, , escalade-eds@example.com;",
}
"""The rules' teams (``VIGIE_NOTIFIER_TEAMS__<name>``), in the team's ``NAME, phone, email;``."""

DEV_CONTACTS: Final = """\
# The embedded run's contacts (`vigie up` writes this file when it is missing; delete it to
# get it back). Fictional people, example.com addresses and 06 00 00 00 0x numbers.
# The notifier imports it at each start (VIGIE_NOTIFIER_CONTACTS_FILE): edit it and restart
# `vigie up` to try other contacts. Format: contacts.example.yaml in the notifier's package.
customers:
  - name: RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE   # the sample ticket's customer
    recipients: |
      DUPONT Jean, 06 00 00 00 01, jean.dupont@example.com;
      ASTREINTE RESEAU, 06 00 00 00 02, astreinte-reseau@example.com;
    channel: both
"""
"""The dev contacts file: the sample's customer, told by mail and SMS."""


def write_dev_contacts(data: DataDir) -> bool:
    """Write :data:`DEV_CONTACTS` to the data folder unless a contacts file is already there.

    A file already there is kept (the developer may have edited it) and made private again.

    Returns:
        Whether the file was written now.

    Raises:
        OSError: The file cannot be written or its mode changed.
    """
    path = data.contacts_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(DEV_CONTACTS)
    return True


def notifier_lab_environment(data: DataDir, lab: RunningLab) -> dict[str, str]:
    """The notifier's variables that point it at the lab's sinks: never the SMS token itself.

    Raises:
        ValueError: The lab printed no mail sink or no SMS sink.
    """
    if lab.mail is None or lab.sms is None:
        missing = " and ".join(
            name for name, sink in (("mail", lab.mail), ("SMS", lab.sms)) if sink is None
        )
        raise ValueError(f"the lab said it was ready but printed no {missing} sink")
    env = {
        "VIGIE_NOTIFIER_SMTP__HOST": lab.mail.host,
        "VIGIE_NOTIFIER_SMTP__PORT": str(lab.mail.port),
        "VIGIE_NOTIFIER_SMTP__SECURITY": "none",  # the sink listens on loopback only
        "VIGIE_NOTIFIER_SMTP__FROM_ADDRESS": FROM_ADDRESS,
        "VIGIE_NOTIFIER_SMTP__FROM_NAME": FROM_NAME,
        "VIGIE_NOTIFIER_SMS__URL": lab.sms.url,
        "VIGIE_NOTIFIER_SMS__TOKEN_FILE": str(lab.sms.token_file),  # read at each send
        "VIGIE_NOTIFIER_CONTACTS_FILE": str(data.contacts_file),  # imported at start
        "VIGIE_NOTIFIER_OPERATOR": OPERATOR,
        "VIGIE_NOTIFIER_MESSAGE_DOMAIN": MESSAGE_DOMAIN,
    }
    env.update({f"VIGIE_NOTIFIER_TEAMS__{team}": value for team, value in TEAMS.items()})
    return env
