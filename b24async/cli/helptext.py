"""The CLI's longer help texts: credentials, exit statuses, the OPI names, command epilogs."""

from __future__ import annotations

from b24async.cli.exits import EXIT_CODES_HELP

__all__ = [
    "BATCH_EPILOG",
    "CALL_EPILOG",
    "ENV_HELP",
    "EXIT_CODES_HELP",
    "MAIN_EPILOG",
    "OPI_COMMANDS",
    "OPI_HELP",
]

ENV_HELP = """\
credentials (never printed):
  --url WEBHOOK_URL                  https://PORTAL/rest/USER_ID/CODE/
  --url PORTAL --token ACCESS_TOKEN  an OAuth app, as in the Open Integration Package
  B24_WEBHOOK_URL                    used when --url is not given
  B24_URL and B24_TOKEN              a portal address and an OAuth access token
  Prefer the environment variables: command-line arguments are visible to other local users.
"""

#: Open Integration Package function -> (b24async command, its help line).
OPI_COMMANDS: dict[str, tuple[str, str]] = {
    "GetUserBusy": ("calendar busy", "--users --from --to"),
    "GetUserParticipationStatus": ("calendar participation", "--event"),
    "SetUserParticipationStatus": ("calendar participation-set", "--event --status"),
    "GetUserStatus": ("im status", ""),
    "SetUserStatus": ("im status-set", "--status"),
    "ChangeUserStatus": ("user change-status", "--userid [--fire true|false]"),
}

OPI_HELP = "Open Integration Package names work as commands too:\n" + "".join(
    f"  {name:<27} = {command} {opts}".rstrip() + "\n"
    for name, (command, opts) in OPI_COMMANDS.items()
)

MAIN_EPILOG = f"""\
examples:
  export B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/
  b24async call user.current
  b24async call user.get --param 'FILTER[ACTIVE]=true' --all --jsonl > users.jsonl
  b24async calendar busy --users 1,2,34 --from 2025-09-10 --to 2025-09-17
  b24async user fire --userid 7
  b24async batch commands.jsonl > results.json

{ENV_HELP}
{OPI_HELP}
{EXIT_CODES_HELP}"""


CALL_EPILOG = """\
parameters:
  --param KEY=VALUE   VALUE is read as JSON when it is valid JSON (5, true, null, [1,2],
                      {"a":1}), else taken as text. KEY may use brackets for nested values:
                      FILTER[>ID]=100, users[]=1 --param users[]=2. Booleans are sent as
                      Y/N: --param ACTIVE=false deactivates, as intended.
  --json '{...}'      all parameters as one JSON object (or @file.json); --param values are
                      added to it.

output: {"result": ..., "total": ..., "next": ..., "time": {...}}, as the portal sends it;
with --all: {"result": [every row], "total": N}; with --all --jsonl: one row per line.

examples:
  b24async call user.current
  b24async call user.get --json '{"FILTER": {"ACTIVE": true}}' --all --jsonl
  b24async call calendar.accessibility.get --param users[]=1 --param from=2025-09-10 \\
      --param to=2025-09-17
"""

BATCH_EPILOG = """\
FILE is JSON or JSON Lines ("-" reads stdin), with any number of commands; they are sent 50
per request, concurrently within the portal's limits. A command is
  {"method": "user.get", "params": {"ID": 1}}   (add "name": "me" to name it)
  ["user.get", {"ID": 1}]  or just  "user.current"
The file holds one command per line (JSON Lines), a JSON array of commands (named "0", "1",
...), or a JSON object {name: command}. Names can be referred to: "$result[me][ID]".

output: {"result": {name: result}, "result_error": {name: error}, "result_total": {...},
"result_next": {...}, "skipped": [names]}; with --jsonl, one line per command in file order:
{"name": ..., "result": ...} | {"name": ..., "error": {...}} | {"name": ..., "skipped": true}.
The exit status is 3 when any command failed or was skipped.

example:
  printf '%s\\n' '{"method":"user.update","params":{"ID":5,"ACTIVE":"N"}}' \\
                 '{"method":"user.update","params":{"ID":6,"ACTIVE":"N"}}' | b24async batch -
"""
