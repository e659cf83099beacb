"""Importing operator files (YAML or CSV) into a service's tables, the same way everywhere.

Every service that takes a file from an operator (the prober's inventory, the notifier's
contacts) reads it with line numbers, names each problem as ``<file> line <n>: <field>:
<message>``, refuses the whole file on any problem, and imports it in one transaction. The
modules hold the parts that do not depend on what the file describes:

- :mod:`.problems`: :class:`~.problems.Location`, :class:`~.problems.Problem`, the errors.
- :mod:`.entries`: raw located entries and the checker that collects problems.
- :mod:`.files`: the bounded UTF-8 read and the choice of reader by extension.
- :mod:`.yaml_reading`, :mod:`.csv_reading`: the readers' shared walks.
- :mod:`.reporting`: the diff's shape and the report's lines and JSON.
- :mod:`.locks`: the advisory lock that makes concurrent imports take turns.
- :mod:`.command`: the command's flow, from reading the files to printing the report.

Nothing is imported here, so a service that reads no YAML does not need PyYAML.
"""
