"""vigie's lab: simulated CPE routers (RAD ETX-203AM, Cisco IOS) and a jump host over SSH.

A product part, not a test helper: technicians try vigie against it (``vigie-lab run``), the
tests and the benchmarks start it (:meth:`Lab.start`, :func:`fleet_scenarios`). It listens on
loopback only. Its sinks (:meth:`MailSink.start`, :meth:`SmsSink.start`) stand in for the team's
SMTP relay and SMS gateway, keeping every message as a file.
"""

from vigie_lab.credentials import DEV_PASSWORDS
from vigie_lab.devices import LabDevice
from vigie_lab.errors import CredentialsMissing, LabError, ListenFailed, Problem, ScenarioInvalid
from vigie_lab.fleet import fleet_scenarios, packaged_scenarios, packaged_text
from vigie_lab.lab import Lab, LabJumpHost, Now
from vigie_lab.mail_sink import MailSink, ReceivedMail
from vigie_lab.scenario_file import DeviceSpec, JumpHostSpec, LabScenarios, load_scenarios
from vigie_lab.sms_sink import SmsMessage, SmsSink

__all__ = [
    "DEV_PASSWORDS",
    "CredentialsMissing",
    "DeviceSpec",
    "JumpHostSpec",
    "Lab",
    "LabDevice",
    "LabError",
    "LabJumpHost",
    "LabScenarios",
    "ListenFailed",
    "MailSink",
    "Now",
    "Problem",
    "ReceivedMail",
    "ScenarioInvalid",
    "SmsMessage",
    "SmsSink",
    "fleet_scenarios",
    "load_scenarios",
    "packaged_scenarios",
    "packaged_text",
]
