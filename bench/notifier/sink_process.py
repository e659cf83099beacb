"""The bench's SMTP sink in a process of its own: ``python -m bench.notifier.sink_process DIR``.

It is the lab's :class:`~vigie_lab.MailSink` (aiosmtpd on loopback, plain SMTP, no AUTH), the
relay the notifier and the floor both send to, so its CPU is its own and is not taken from
either of them. It prints ``ready <port>`` once it listens, then notes, for every message it
accepts, the time it answered 250 (wall clock, ``time.time()``), the Message-ID and the size.

``--store files`` (the default) is the sink's normal job: each message is parsed, written as
an ``.eml`` file (to a temporary name, fsync'd, renamed) and kept in memory, one at a time
under the sink's lock; ``250`` is answered once the file is on disk. ``--store count`` only
notes the message and answers 250 (no parsing, no file): it shows how much of a run's time
the sink's own work takes.

Commands on stdin, one per line: ``report`` prints one JSON line ``{"records": [[t,
message_id, bytes], ...]}`` with the messages accepted since the last report, and forgets
them (and the parsed copies the sink keeps); ``quit``, or the end of stdin, stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, cast

from vigie_lab import MailSink

HEADER_END: Final = b"\r\n\r\n"
MESSAGE_ID: Final = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
Record = tuple[float, str, int]


def message_id_of(raw: bytes) -> str:
    """The Message-ID in a message's header block, ``""`` when it has none."""
    end = raw.find(HEADER_END)
    found = MESSAGE_ID.search(raw, 0, len(raw) if end < 0 else end)
    return found.group(1).decode("ascii", "replace") if found else ""


class BenchSink(MailSink):
    """The lab's sink, noting when it accepted each message; optionally doing nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[Record] = []
        self.count_only = False

    async def deliver(
        self, mail_from: str, rcpt_tos: list[str], raw: bytes, login: str | None
    ) -> str:
        """Store the message as the sink does (unless counting only), then note it."""
        if self.count_only:
            reply = "250 2.0.0 OK"
        else:
            reply = await super().deliver(mail_from, rcpt_tos, raw, login)
        if reply.startswith("250"):
            self.records.append((time.time(), message_id_of(raw), len(raw)))
        return reply

    def report(self) -> str:
        """The records since the last report as one JSON line; they are forgotten."""
        records, self.records = self.records, []
        self.received.clear()  # the parsed copies: a long run would keep them all
        return json.dumps({"records": records}, separators=(",", ":"))


async def serve(folder: Path, *, count_only: bool) -> None:
    """Listen on a free loopback port until ``quit`` or the end of stdin."""
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    async with BenchSink.start(folder, host="127.0.0.1") as started:
        sink = cast(BenchSink, started)
        sink.count_only = count_only
        print(f"ready {sink.port}", flush=True)
        while True:
            line = (await commands.readline()).decode().strip()
            if line == "report":
                print(sink.report(), flush=True)
            elif line in ("quit", ""):
                return


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the sink."""
    parser = argparse.ArgumentParser(prog="python -m bench.notifier.sink_process")
    parser.add_argument("folder", type=Path, help="where the .eml files go")
    parser.add_argument(
        "--store",
        choices=("files", "count"),
        default="files",
        help="files: the sink's normal job (parse, write, keep); count: only note each message",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.folder, count_only=args.store == "count"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
