"""Run inside the container: drive SystemdSupervisor directly, JSON in, JSON out.

stdin:  {"op": "start"|"stop"|"state"|"restore"|"logs"|"available"|"render",
         "spec": {...ServiceSpec...}, "handle": {...Handle...}, "deployment_id": "..."}
stdout: {"ok": true, "result": ...} or {"ok": false, "error": {...AistackError.to_dict()...}}
"""

import json
import sys

from aistack import values
from aistack.errors import AistackError
from aistack.service import ServiceSpec
from aistack.supervisors.base import Handle
from aistack.supervisors.systemd import SystemdSupervisor


def main() -> None:
    req = json.load(sys.stdin)
    sup = SystemdSupervisor()
    op = req["op"]
    handle = Handle(**req["handle"]) if req.get("handle") else None
    try:
        if op == "available":
            result = list(sup.available())
        elif op == "render":
            result = sup.render(ServiceSpec.from_dict(req["spec"])).text
        elif op == "start":
            result = values.to_dict(sup.start(ServiceSpec.from_dict(req["spec"]), req.get("deployment_id", "test")))
        elif op == "stop":
            result = sup.stop(handle)
        elif op == "restore":
            result = sup.restore(handle)
        elif op == "state":
            result = values.to_dict(sup.state(handle))
        elif op == "logs":
            result = list(sup.logs(handle, req.get("lines", 20), False))
        else:
            raise SystemExit(f"unknown op {op}")
    except AistackError as exc:
        json.dump({"ok": False, "error": exc.to_dict()}, sys.stdout)
        return
    json.dump({"ok": True, "result": result}, sys.stdout)


main()
