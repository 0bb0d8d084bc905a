"""What a plugin registers, learnt without importing it in the harness: ``python -m bench._describe FD KIND TARGET``.

An official run never imports a plugin that registers attacks in the harness process (its module code or an
attack's ``__init__`` could rewrite how the harness scores, next to the split). Each third-party plugin is
imported instead in a process of its own, in the sandbox the attack workers use, which writes what the plugin
registers as JSON to a pipe of its own (``FD``; not stdout, where the plugin's own prints go): its
:class:`PluginInfo` and, per attack, what the harness needs to list, check and identify it (threat model, the
tasks it supports, its default parameters, version, and where the worker imports the real class from).

One plugin per process, so a plugin can only describe itself; the harness treats every description as
untrusted data (:func:`describe_plugins` checks types, names and sizes, and refuses one that does not fit).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ._api import PluginError, Task, ThreatModel

__all__ = ["AttackDescription", "PluginDescription", "describe_plugins", "main", "DESCRIBE_SECONDS", "MAX_DESCRIPTION"]

DESCRIBE_SECONDS = 120.0  # importing a plugin (and torch, if it imports it at module level) on a loaded machine
MAX_DESCRIPTION = 1 << 20  # bytes: a plugin's description is names and default parameters
_KINDS = ("attacks", "defenses", "tracks", "executors")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")  # what a published name may be (bench._submission); else refused
_TEXT = 4000  # characters kept of a described error or problem


@dataclass(frozen=True)
class AttackDescription:
    """One attack as the sandbox saw it: its class attributes, and where the worker imports the real class from."""

    name: str
    threat_model: ThreatModel
    tasks: tuple[Task, ...]  # the tasks its supports() accepted, built with its defaults
    params: dict[str, Any]  # its defaults, as JSON
    version: Any
    module: str
    qualname: str
    file: str | None
    error: str | None = None  # building it with its defaults raised: each cell fails with this


@dataclass(frozen=True)
class PluginDescription:
    """What one plugin registers (its ``PluginInfo`` fields that the sandbox knows), and its attacks."""

    name: str
    registers: dict[str, list[str]]
    error: str | None = None  # broken: failed to import, or raised in a register_* hook
    problems: list[str] = field(default_factory=list)
    attacks: list[AttackDescription] = field(default_factory=list)


# -- the describing process ----------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    fd, kind, target = int(argv[0]), argv[1], argv[2]
    os.set_inheritable(fd, False)
    import warnings

    from ._plugins import PluginManager

    warnings.simplefilter("ignore")  # a plugin's problems are in its description
    from ._seccomp import deny_keys_and_namespaces

    deny_keys_and_namespaces()  # the import runs a plugin's code: it leaves no key for the cells (bench._seccomp)
    manager = PluginManager()
    if kind == "entry-point":
        manager.load_entry_points(names=[target])
    else:
        manager.load_file(target)
    registry = manager.registry(strict=False)
    infos = list(manager.plugins.values())
    data = {"plugin": infos[0].as_dict() if infos else None, "attacks": [_attack(reg) for reg in registry.items("attacks")]}
    payload = json.dumps(data, default=str).encode()
    while payload:
        payload = payload[os.write(fd, payload):]
    os.close(fd)
    return 0


def _attack(reg: Any) -> dict[str, Any]:
    import inspect

    cls = reg.obj if inspect.isclass(reg.obj) else type(reg.obj)
    out: dict[str, Any] = {"name": reg.name, "module": cls.__module__, "qualname": cls.__qualname__,
                           "file": getattr(sys.modules.get(cls.__module__), "__file__", None), "error": None}
    try:
        attack = reg.obj()  # as the registry builds it (Registry.attack): supports() and params may be the instance's
    except Exception as exc:  # each of its cells fails with this, as it would in the harness
        attack, out["error"] = cls, f"{type(exc).__name__}: {exc}"
    tasks = [t.value for t in Task if _supports(attack, t)] if out["error"] is None else [Task(t).value for t in cls.tasks]
    version = attack.version if isinstance(attack.version, (str, int, float)) else str(attack.version)
    out.update(threat_model=int(ThreatModel(attack.threat_model)), tasks=tasks, version=version,
               params=json.loads(json.dumps(dict(attack.params), default=str)))  # as run ids hash them
    return out


def _supports(attack: Any, task: Task) -> bool:
    try:
        return bool(attack.supports(task))
    except Exception:
        return False


# -- the harness's side --------------------------------------------------------------------------------------------
@dataclass
class _Job:
    name: str
    label: str
    proc: subprocess.Popen
    channel: int
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    problem: str | None = None


def describe_plugins(requests: Iterable[tuple[str, str, str, str]], *, sandbox: str | None = None,
                     hide: Iterable[str] = (), timeout: float = DESCRIBE_SECONDS) -> dict[str, PluginDescription]:
    """Describe plugins, each in its own sandboxed process: ``requests`` are (plugin name, label, kind, target), kind
    ``entry-point`` (target: its name) or ``file`` (target: its absolute path). Returns the descriptions by name;
    raises :class:`PluginError` naming the plugin whose process failed, timed out or sent a description that does
    not fit. ``hide``: folders the process must not read (the run folder, the model cache)."""
    from ._sandbox import detect, keep_paths, remove_homes, worker_env

    requests = list(requests)
    box = detect(sandbox)
    keep = [*keep_paths(), *(t for _, _, k, t in requests if k == "file")]
    hide = [str(p) for p in hide if p]
    jobs: list[_Job] = []
    home = box.home() if requests else ""
    try:
        for name, label, kind, target in requests:
            read, write = os.pipe()
            argv = box.command([sys.executable, "-m", "bench._describe", str(write), kind, target], hide=hide, keep=keep)
            try:
                proc = subprocess.Popen(argv, pass_fds=[write], env=worker_env(home), cwd="/", stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            except OSError:
                os.close(read)
                raise
            finally:
                os.close(write)
            jobs.append(_Job(name, label, proc, read))
        _collect(jobs, time.monotonic() + timeout, timeout)
        return {job.name: _described(job) for job in jobs}
    finally:
        for job in jobs:
            _end(job)
        remove_homes(home)  # the describing processes' own HOME (bwrap's is a tmpfs: it went with them)


def _collect(jobs: list[_Job], deadline: float, timeout: float) -> None:
    """Read every process's description and stderr (its tail) until they close, within the deadline."""
    sel = selectors.DefaultSelector()
    for job in jobs:
        sel.register(job.channel, selectors.EVENT_READ, (job, "out"))
        sel.register(job.proc.stderr.fileno(), selectors.EVENT_READ, (job, "err"))  # type: ignore[union-attr]
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for key in list(sel.get_map().values()):
                    key.data[0].problem = key.data[0].problem or f"did not finish within {timeout:.0f} s"
                    sel.unregister(key.fileobj)
                return
            for key, _ in sel.select(remaining):
                job, which = key.data
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif which == "err":
                    job.err = (job.err + chunk)[-_TEXT:]
                elif len(job.out) + len(chunk) > MAX_DESCRIPTION:
                    job.problem = f"sent a description over {MAX_DESCRIPTION} bytes"
                    sel.unregister(key.fileobj)
                    job.proc.kill()
                else:
                    job.out += chunk
    finally:
        sel.close()


def _end(job: _Job) -> None:
    import signal

    if job.proc.poll() is None:
        try:
            os.killpg(job.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            job.proc.kill()
    job.proc.wait()
    os.close(job.channel)
    if job.proc.stderr is not None:
        job.proc.stderr.close()


def _described(job: _Job) -> PluginDescription:
    def fail(why: str) -> PluginError:
        tail = job.err.decode(errors="replace").strip().splitlines()[-3:]
        return PluginError(f"describing plugin {job.label} in the sandbox failed: {why}" + (f"; its stderr ends: {' | '.join(tail)}" if tail else "")
                           + "; an official run imports a plugin in the harness only once it is known to register no attack")

    if job.problem:
        raise fail(job.problem)
    try:
        code = job.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise fail("it did not exit after sending its description") from None
    if code != 0:
        raise fail(f"exit status {code}")
    try:
        return _checked(json.loads(job.out), job.name)
    except (ValueError, TypeError, KeyError) as exc:
        raise fail(f"its description does not fit ({exc})") from None


def _checked(data: Any, name: str) -> PluginDescription:
    """The description, checked field by field (it comes from the plugin's own process: untrusted)."""
    _expect(isinstance(data, dict) and set(data) == {"plugin", "attacks"}, "not an object with 'plugin' and 'attacks'")
    info, attacks = data["plugin"], data["attacks"]
    _expect(isinstance(info, dict) and info.get("name") == name, f"it does not describe plugin {name!r}")
    registers = info["registers"]
    _expect(isinstance(registers, dict) and set(registers) == set(_KINDS), "'registers' is not one list per kind")
    for kind in _KINDS:
        _expect(isinstance(registers[kind], list) and all(_is_name(n) for n in registers[kind]), f"bad {kind} names")
    error = info["error"]
    _expect(error is None or isinstance(error, str), "'error' is not text")
    _expect(isinstance(info["problems"], list) and all(isinstance(p, str) for p in info["problems"]), "'problems' is not a list of text")
    _expect(isinstance(attacks, list), "'attacks' is not a list")
    described = [_checked_attack(a) for a in attacks]
    _expect(sorted(a.name for a in described) == sorted(registers["attacks"]) or error is not None, "its attacks and 'registers' disagree")
    return PluginDescription(name, {k: list(v) for k, v in registers.items()}, None if error is None else error[:_TEXT],
                             [p[:_TEXT] for p in info["problems"][:100]], [] if error is not None else described)


def _checked_attack(a: Any) -> AttackDescription:
    _expect(isinstance(a, dict) and _is_name(a.get("name")), "an attack without a valid name")
    name = a["name"]
    _expect(type(a["threat_model"]) is int and a["threat_model"] in {int(t) for t in ThreatModel}, f"attack {name!r}: bad threat_model")
    _expect(isinstance(a["tasks"], list) and all(isinstance(t, str) for t in a["tasks"]), f"attack {name!r}: bad tasks")
    tasks = tuple(Task(t) for t in a["tasks"])  # ValueError: not a task
    _expect(isinstance(a["params"], dict), f"attack {name!r}: params is not an object")
    _expect(isinstance(a["version"], (str, int, float)) and not isinstance(a["version"], bool), f"attack {name!r}: bad version")
    for key in ("module", "qualname"):
        _expect(isinstance(a[key], str) and 0 < len(a[key]) <= 1000, f"attack {name!r}: bad {key}")
    _expect(a["file"] is None or isinstance(a["file"], str) and os.path.isabs(a["file"]), f"attack {name!r}: bad file")
    _expect(a["error"] is None or isinstance(a["error"], str), f"attack {name!r}: bad error")
    return AttackDescription(name, ThreatModel(a["threat_model"]), tasks, dict(a["params"]), a["version"], a["module"], a["qualname"],
                             a["file"], None if a["error"] is None else a["error"][:_TEXT])


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _expect(ok: bool, why: str) -> None:
    if not ok:
        raise ValueError(why)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
