"""Expansion: params, expressions, blocks, `repeat` and `when` → a flat list of op nodes with explicit ids and
inputs, which is what pydantic validates and the compiler lowers (and what `nnspec resolve` prints).

Names are resolved lazily: a `from` entry becomes a `_Ref` into the name table of the list it was written in,
and refs are resolved once every list is expanded, so forward references and pass-through of skipped nodes work.
Every generated node remembers where it came from: diagnostics point at the top-level use site and name the block
definition and repetition.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from nnspec.errors import Diagnostic, SourceLoc, SpecError
from nnspec.specs.expr import ExprError, has_expression, substitute
from nnspec.specs.source import Path, SourceMap, format_path

_NODE_KEYS = ("id", "from", "repeat", "when")
_USE_KEYS = ("block", "share")  # keys of a block use that are not block params
_BLOCK_KEYS = ("params", "inputs", "nodes", "outputs")
_PARAM_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": list, "any": object}
_MAX_DEPTH = 32


@dataclass(frozen=True)
class Expanded:
    """The flat spec data, where each path came from, and the block scope of every generated node."""

    data: dict[str, Any]
    source: SourceMap
    scopes: dict[int, tuple[tuple[str, str], ...]]
    shares: dict[int, str] = field(default_factory=dict)
    """Node index → id of the node whose weights it uses (block uses with `share:`)."""


@dataclass
class _Ref:
    """A name written in some node list, resolved against that list's table once expansion is done."""

    name: str
    table: dict[str, Any]
    where: Path
    port: str | None = None
    """The output of a multi-output op this reference reads (`pool1:indices`), or None for the first."""

    @classmethod
    def parse(cls, text: str, table: dict[str, Any], where: Path) -> _Ref:
        name, _, port = text.partition(":")
        return cls(name, table, where, port or None)


@dataclass
class _Env:
    """How to expand one node list: id prefix, name table, expression scope, and provenance."""

    prefix: str
    table: dict[str, Any]
    scope: dict[str, Any]
    first_input: Any
    use_site: Path | None = None
    """The top-level node this list was reached from (None at top level)."""
    notes: tuple[str, ...] = ()
    scope_chain: tuple[tuple[str, str], ...] = ()
    blocks_used: tuple[str, ...] = ()


@dataclass
class _Out:
    """What expansion produces while it runs."""

    nodes: list[tuple[dict, Path, Path | None, str, tuple]] = field(default_factory=list)
    """(node data, the YAML path it was written at, its top-level use site or None, note, scope chain)."""
    problems: list[Diagnostic] = field(default_factory=list)


class _Expander:
    def __init__(self, data: dict, marks: dict, file: str, notes: dict):
        self.data, self.marks, self.file, self.set_notes = data, marks, file, notes
        self.out = _Out()
        self.blocks = data.get("blocks") or {}
        self.shares: dict[int, tuple[str, Path, _Env]] = {}

    # --- diagnostics --------------------------------------------------------------------------------------------

    def loc(self, path: Path) -> SourceLoc:
        found: Path = ()
        for part in path:
            if found + (part,) in self.marks:
                found += (part,)
        return self.marks.get(found, SourceLoc(self.file, 1, 1))

    def problem(self, path: Path, message: str, env: _Env | None = None) -> None:
        note = "; ".join(env.notes) if env and env.notes else ""
        self.out.problems.append(Diagnostic(self.loc(path), format_path(path),
                                            f"{message} ({note})" if note else message))

    def value(self, value: Any, scope: dict, path: Path, env: _Env | None = None) -> Any:
        """`value` with every `${...}` evaluated (recursively through lists and mappings)."""
        if has_expression(value):
            try:
                return substitute(value, scope)
            except ExprError as exc:
                self.problem(path, f"expression {value!r}: {exc}", env)
                return None
        if isinstance(value, list):
            return [self.value(v, scope, path + (i,), env) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.value(v, scope, path + (k,), env) for k, v in value.items()}
        return value

    # --- node lists ---------------------------------------------------------------------------------------------

    def expand_list(self, items: Any, path: Path, env: _Env) -> Any:
        """Expand a node list; returns the ref of its last node (the chain's end)."""
        if not isinstance(items, list):
            self.problem(path, f"`nodes` must be a list of nodes. Received: {type(items).__name__}", env)
            return env.first_input
        counters: dict[str, int] = {}
        taken = {str(n["id"]) for n in items if isinstance(n, dict) and isinstance(n.get("id"), str)}
        taken |= set(env.table)
        prev = env.first_input
        for j, item in enumerate(items):
            where = path + (j,)
            if not isinstance(item, dict):
                self.problem(where, f"a node must be a mapping like {{op: dense, units: 10}}. Received: {item!r}",
                             env)
                continue
            prev = self.expand_item(item, where, env, prev, counters, taken)
        return prev

    def _gen_id(self, kind: str, counters: dict, taken: set, sep: str = "_") -> str:
        return generated_id(kind, counters, taken, sep)

    def expand_item(self, item: dict, where: Path, env: _Env, prev: Any, counters: dict, taken: set) -> Any:
        kind = "block" if "block" in item else "op"
        label = item.get(kind)
        label = self.value(label, env.scope, where + (kind,), env) if has_expression(label) else label
        if not isinstance(label, str):
            if "block" not in item and "op" not in item:
                return self._no_op(item, where, env, prev, counters, taken)
            label = str(label)
        local_id = self.value(item.get("id"), env.scope, where + ("id",), env) if "id" in item else None
        repeat = self._repeat(item, where, env)
        sources = self._sources(item, where, env, prev)
        if local_id is None:
            base = None
        else:
            base = str(local_id)
        last = sources[0] if sources else prev
        prev_copy = None
        for k in range(repeat):
            scope = {**env.scope, "index": k, "repeats": repeat} if "repeat" in item else env.scope
            if base is None:
                copy_id = self._gen_id(label, counters, taken, "_" if kind == "op" else "")
            else:
                # NOTE: any `repeat:` numbers its copies, even a repeat of 1, so ids do not depend on the count.
                numbered = "repeat" in item
                copy_id = base + ("_" if base[-1].isdigit() else "") + str(k + 1) if numbered else base
            inputs = sources if k == 0 else self._chained(item, label, kind, prev_copy, last, sources, env, where)
            if not self._when(item, where, scope, env):
                last = inputs[0] if inputs else last
                env.table[copy_id] = last
                continue
            note = f"repetition {k + 1} of {repeat}" if repeat > 1 else ""
            if kind == "op":
                last = self.emit_op(item, label, copy_id, inputs, where, scope, env, note)
                if "share" in item:
                    self._record_op_share(item, env, where)
            else:
                last = self.expand_block(item, label, copy_id, inputs, where, scope, env, note)
            env.table[copy_id] = last
            prev_copy = copy_id
        if base is not None and "repeat" in item:
            env.table[base] = last
        return last

    def _chained(self, item, label, kind, prev_copy, last, sources, env, where) -> list:
        """The inputs of a repeated copy after the first: the previous copy's outputs (all of a block's
        `outputs:`, in order) in place of its first inputs, and the rest of `from` unchanged, so a block that
        updates nodes and edges over a fixed edge list repeats as `from: [nodes, edges, senders, receivers]`."""
        outputs = []
        if kind == "block" and prev_copy is not None:
            block = (self.data.get("blocks") or {}).get(label)
            outputs = [str(o) for o in (block.get("outputs") or [])] if isinstance(block, dict) else []
        if len(outputs) < 2:
            return [last, *sources[1:]]
        chained = [last] + [_Ref.parse(f"{prev_copy}.{o}", env.table, where) for o in outputs[1:]]
        return chained + sources[len(outputs):]

    def _no_op(self, item, where, env, prev, counters, taken):
        # Let pydantic report the missing `op` at this node: emit it as written, with resolved ids.
        node_id = str(item.get("id") or self._gen_id("node", counters, taken))
        data = {k: v for k, v in item.items() if k not in _NODE_KEYS}
        return self._emit({"id": env.prefix + node_id, **data}, self._sources(item, where, env, prev), where, env,
                          "", node_id)

    def _repeat(self, item: dict, where: Path, env: _Env) -> int:
        if "repeat" not in item:
            return 1
        n = self.value(item["repeat"], env.scope, where + ("repeat",), env)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            if n is not None:
                self.problem(where + ("repeat",), f"`repeat` must be a whole number ≥ 1. Received: repeat={n!r}",
                             env)
            return 1
        return n

    def _when(self, item: dict, where: Path, scope: dict, env: _Env) -> bool:
        if "when" not in item:
            return True
        value = self.value(item["when"], scope, where + ("when",), env)
        if not isinstance(value, bool):
            if value is not None:
                self.problem(where + ("when",), f"`when` must be true or false. Received: when={value!r}", env)
            return True
        return value

    def _sources(self, item: dict, where: Path, env: _Env, prev: Any) -> list:
        if "from" not in item:
            return [prev] if prev is not None else []
        names = self.value(item["from"], env.scope, where + ("from",), env)
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.problem(where + ("from",), "`from` must be a name or a list of names. "
                         f"Received: from={item['from']!r}", env)
            return [prev] if prev is not None else []
        return [_Ref.parse(n, env.table, where + ("from",)) for n in names]

    # --- ops and blocks -----------------------------------------------------------------------------------------

    def emit_op(self, item, op, node_id, inputs, where, scope, env, note) -> str:
        params = {k: self.value(v, scope, where + (k,), env) for k, v in item.items()
                  if k not in (*_NODE_KEYS, "share")}
        params["op"] = op
        return self._emit({"id": env.prefix + node_id, **params}, inputs, where, env, note, node_id)

    def _emit(self, data: dict, inputs: list, where: Path, env: _Env, note: str, local_id: str) -> str:
        data["from"] = inputs
        notes = "; ".join(n for n in (note, *env.notes) if n)
        self.out.nodes.append((data, where, env.use_site, notes, env.scope_chain))
        return data["id"]

    def expand_block(self, item, name, use_id, inputs, where, scope, env, note) -> Any:
        block = self._block(name, where, env)
        if block is None:
            return inputs[0] if inputs else None
        bpath = ("blocks", name)
        if name in env.blocks_used:
            self.problem(where + ("block",), f"block '{name}' uses itself (through "
                         f"{' -> '.join((*env.blocks_used, name))}); blocks cannot recurse", env)
            return inputs[0] if inputs else None
        before = len(self.out.problems)
        inner_scope = self._block_params(block, name, item, where, scope, env)
        formal = block.get("inputs") or ["input"]
        if len(inputs) != len(formal):
            self.problem(where + ("from",), f"block '{name}' takes {len(formal)} input(s) {formal}, got "
                         f"{len(inputs)}. Received: from={item.get('from')!r}", env)
        if len(self.out.problems) > before:  # NOTE: a bad use would only add follow-on errors from the body
            return inputs[0] if inputs else None
        defined = self.loc(bpath)
        here = f"in block '{name}' defined at {defined}" + (f", {note}" if note else "")
        inner = _Env(prefix=env.prefix + use_id + ".", table=dict(zip(formal, inputs)), scope=inner_scope,
                     first_input=inputs[0] if inputs else None, use_site=env.use_site or where,
                     notes=(here, *env.notes), scope_chain=(*env.scope_chain, (env.prefix + use_id, name)),
                     blocks_used=(*env.blocks_used, name))
        first = len(self.out.nodes)
        last = self.expand_list(block.get("nodes"), bpath + ("nodes",), inner)
        if "share" in item:
            self._record_shares(item, first, inner.prefix, env, where)
        for local, ref in list(inner.table.items()):
            if local not in formal:
                env.table[f"{use_id}.{local}"] = ref
        outputs = block.get("outputs") or []
        if outputs:
            return _Ref.parse(str(outputs[0]), inner.table, bpath + ("outputs", 0))
        return last

    def _record_shares(self, item: dict, first: int, prefix: str, env: _Env, where: Path) -> None:
        """`share: other` — every node of this use reuses the weights of the same node in block use `other`."""
        other = self.value(item["share"], env.scope, where + ("share",), env)
        if not isinstance(other, str):
            self.problem(where + ("share",), f"`share` names an earlier use of the same block. Received: "
                         f"share={other!r}", env)
            return
        for k in range(first, len(self.out.nodes)):
            node_id = self.out.nodes[k][0]["id"]
            self.shares[k] = (env.prefix + other + "." + node_id[len(prefix):], where + ("share",), env)

    def _record_op_share(self, item: dict, env: _Env, where: Path) -> None:
        """`share: other` on an op: the node just emitted reuses the weights of node `other` (how a resolved
        spec keeps the sharing its block uses declared)."""
        other = self.value(item["share"], env.scope, where + ("share",), env)
        if not isinstance(other, str):
            self.problem(where + ("share",), f"`share` names an earlier node with the same op and params. "
                         f"Received: share={other!r}", env)
            return
        self.shares[len(self.out.nodes) - 1] = (env.prefix + other, where + ("share",), env)

    def _check_shares(self, nodes: list[dict]) -> dict[int, str]:
        """Each shared node must have a twin with the same op and params; returns index → twin id."""
        by_id = {n["id"]: n for n in nodes}
        strip = lambda n: {k: v for k, v in n.items() if k not in ("id", "from")}  # noqa: E731
        shares = {}
        for k, (twin, where, env) in self.shares.items():
            node = nodes[k]
            if twin not in by_id:
                self.problem(where, f"cannot share weights: '{node['id']}' has no twin '{twin}'. `share` names an "
                             "earlier use of the same block with the same params", env)
            elif strip(by_id[twin]) != strip(node):
                self.problem(where, f"cannot share weights between '{node['id']}' and '{twin}': their ops or "
                             f"params differ. Received: {strip(node)} vs {strip(by_id[twin])}", env)
            else:
                shares[k] = twin
        return shares

    def _check_blocks(self) -> set[str]:
        """Problems in the block definitions themselves, reported once; returns the names of broken blocks."""
        if not isinstance(self.blocks, dict):
            self.problem(("blocks",), f"`blocks` must map block names to definitions. Received: {self.blocks!r}")
            self.blocks = {}
        bad = set()
        for name, block in self.blocks.items():
            before, path = len(self.out.problems), ("blocks", name)
            if not isinstance(block, dict):
                self.problem(path, "a block needs `nodes` (and may have `params`, `inputs`, `outputs`). "
                             f"Received: {block!r}")
                bad.add(name)
                continue
            for key in block:
                if key not in _BLOCK_KEYS:
                    close = difflib.get_close_matches(str(key), _BLOCK_KEYS, n=1)
                    hint = f" Did you mean '{close[0]}'?" if close else f" Known: {', '.join(_BLOCK_KEYS)}."
                    self.problem(path + (key,), f"unknown key '{key}' in block '{name}'.{hint} "
                                 f"Received: {key}={block[key]!r}")
            for key in ("inputs", "outputs"):
                names = block.get(key)
                if names is not None and not (isinstance(names, list) and names and
                                              all(isinstance(n, str) for n in names)):
                    self.problem(path + (key,), f"`{key}` must be a list of names. Received: {key}={names!r}")
            if not isinstance(block.get("params") or {}, dict):
                self.problem(path + ("params",), f"`params` must map names to defaults. "
                             f"Received: params={block['params']!r}")
            if "nodes" not in block:
                self.problem(path, f"block '{name}' has no `nodes`.")
            if len(self.out.problems) > before:
                bad.add(name)
        return bad

    def _block(self, name: str, where: Path, env: _Env) -> dict | None:
        block = self.blocks.get(name) if isinstance(self.blocks, dict) else None
        if name in self.bad_blocks:
            return None  # already reported at its definition
        if isinstance(block, dict):
            return block
        close = difflib.get_close_matches(name, list(self.blocks), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else f" Defined blocks: {', '.join(self.blocks) or 'none'}."
        self.problem(where + ("block",), f"unknown block '{name}'.{hint} Received: block={name!r}", env)
        return None

    def _block_params(self, block, name, item, where, scope, env) -> dict:
        declared = block.get("params") or {}
        given = {k: self.value(v, scope, where + (k,), env) for k, v in item.items()
                 if k not in (*_NODE_KEYS, *_USE_KEYS)}
        values = {}
        for key, value in given.items():
            if key not in declared:
                close = difflib.get_close_matches(key, list(declared), n=1)
                hint = f" Did you mean '{close[0]}'?" if close else f" Its params: {', '.join(declared) or 'none'}."
                self.problem(where + (key,), f"block '{name}' has no param '{key}'.{hint} "
                             f"Received: {key}={value!r}", env)
        for key, decl in declared.items():
            kind, default, required = _param_decl(decl)
            if key in given:
                values[key] = given[key]
                expected = _PARAM_TYPES.get(kind, object)
                ok = isinstance(values[key], expected) and not (kind in ("int", "float") and
                                                                 isinstance(values[key], bool))
                if values[key] is not None and not ok:
                    self.problem(where + (key,), f"param '{key}' of block '{name}' must be {kind}. "
                                 f"Received: {key}={values[key]!r}", env)
            elif required:
                self.problem(where, f"block '{name}' needs param '{key}'. Received: "
                             f"{{{', '.join(given)}}}", env)
            else:
                values[key] = default
        return {**self.data_params, **values}

    # --- the whole spec -----------------------------------------------------------------------------------------

    def run(self) -> Expanded:
        self.data_params = self._params()
        self.bad_blocks = self._check_blocks()
        data = {k: v for k, v in self.data.items() if k not in ("params", "blocks", "nodes")}
        data = {k: self.value(v, self.data_params, (k,)) for k, v in data.items()}
        inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
        table: dict[str, Any] = {name: name for name in inputs}
        # NOTE: with several inputs the first node must say which it reads; leaving its `from` empty lets the
        # reference checks report that at its line.
        first = next(iter(inputs)) if len(inputs) == 1 else None
        env = _Env(prefix="", table=table, scope=self.data_params, first_input=first)
        if "nodes" in self.data:
            self.expand_list(self.data["nodes"], ("nodes",), env)
        data["nodes"] = self._resolved_nodes()
        shares = self._check_shares(data["nodes"])
        if isinstance(data.get("outputs"), list):
            data["outputs"] = [self._resolve(_Ref(o, table, ("outputs", i))) if isinstance(o, str) else o
                               for i, o in enumerate(data["outputs"])]
        if self.out.problems:
            raise SpecError(self.out.problems)
        scopes = {i: n[4] for i, n in enumerate(self.out.nodes) if n[4]}
        return Expanded(data, self._source_map(), scopes, shares)

    def _params(self) -> dict:
        params = self.data.get("params") or {}
        if not isinstance(params, dict):
            self.problem(("params",), f"`params` must be a mapping of names to values. Received: {params!r}")
            return {}
        scope: dict[str, Any] = {}
        for key, value in params.items():  # a param may use the ones before it
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                self.problem(("params", key), f"param names must be identifiers. Received: {key!r}")
            scope[str(key)] = self.value(value, scope, ("params", key))
        return scope

    def _resolve(self, ref: Any, seen: tuple = ()) -> Any:
        ports: list[str] = []  # NOTE: a port on a name that is itself a port makes `a:b:c`, which checks refuse
        while isinstance(ref, _Ref):
            if ref.port:
                ports.insert(0, ref.port)
            if ref.name not in ref.table or id(ref) in seen:
                ref = ref.name  # unknown names stay as written: the reference checks report them
                break
            seen += (id(ref),)
            ref = ref.table[ref.name]
        return ":".join((ref, *ports)) if ports and isinstance(ref, str) else ref

    def _resolved_nodes(self) -> list[dict]:
        nodes = []
        for data, where, use_site, notes, chain in self.out.nodes:
            resolved = [self._resolve(r) for r in data["from"]]
            data = {"id": data["id"], "op": data.get("op"), "from": resolved,
                    **{k: v for k, v in data.items() if k not in ("id", "op", "from")}}
            if data["op"] is None:
                del data["op"]
            if not resolved:
                del data["from"]
            nodes.append(data)
        return nodes

    def _source_map(self) -> SourceMap:
        marks = {p: loc for p, loc in self.marks.items() if not p or p[0] not in ("nodes", "params", "blocks")}
        marks[("nodes",)] = self.marks.get(("nodes",), SourceLoc(self.file, 1, 1))
        aliases = {}
        notes = {p: n for p, n in self.set_notes.items() if not p or p[0] != "nodes"}
        for k, (data, where, use_site, note, chain) in enumerate(self.out.nodes):
            site = use_site or where
            new = ("nodes", k)
            n = len(site)
            notes.update({new + p[n:]: text for p, text in self.set_notes.items() if p[:n] == site})
            for key in (*data, "from"):
                marks[new + (key,)] = self.marks.get(where + (key,), self.loc(site)) if use_site is None \
                    else self.loc(site)
            marks[new] = self.loc(site)
            generated = use_site is not None or "repetition" in note
            aliases[new] = f"{format_path(site)}/{data['id']}" if generated else format_path(site)
            if note:
                notes[new] = note
        return SourceMap(self.file, marks, aliases, notes)


def generated_id(kind: str, counters: dict[str, int], taken: set[str], sep: str = "_") -> str:
    """The next free `<op>_<n>` (ops, sep `_`) or `<block><n>` (block uses, sep ``) in one node list."""
    while True:
        counters[kind] = counters.get(kind, 0) + 1
        candidate = f"{kind}{sep}{counters[kind]}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def list_ids(items: list, taken_outside: set[str] = frozenset()) -> list[str | None]:
    """The id each item of a node list will have (given, or generated as expansion will), or None where it
    depends on an expression or a `repeat` (those nodes can only be addressed by an explicit `id`)."""
    taken = {str(n["id"]) for n in items if isinstance(n, dict) and isinstance(n.get("id"), str)}
    taken |= set(taken_outside)
    counters: dict[str, int] = {}
    ids: list[str | None] = []
    for item in items:
        if not isinstance(item, dict):
            ids.append(None)
            continue
        kind = "block" if "block" in item else "op"
        label, repeat = item.get(kind), item.get("repeat", 1)
        if isinstance(item.get("id"), str):
            ids.append(item["id"])
        elif isinstance(label, str) and not has_expression(label) and isinstance(repeat, int):
            sep = "_" if kind == "op" else ""
            names = [generated_id(label, counters, taken, sep) for _ in range(max(repeat, 1))]
            ids.append(names[0] if repeat == 1 else None)
        else:
            ids.append(None)
    return ids


def _param_decl(decl: Any) -> tuple[str, Any, bool]:
    """`(type, default, required)` of a block param: `~` (required), a default value, or the long form."""
    if isinstance(decl, dict) and "type" in decl:
        return str(decl["type"]), decl.get("default"), "default" not in decl
    if decl is None:
        return "any", None, True
    kind = next((name for name, t in _PARAM_TYPES.items() if name != "any" and type(decl) is t), "any")
    if isinstance(decl, float):
        kind = "float"
    return kind, decl, False


def expand(data: dict, marks: dict, file: str, notes: dict | None = None) -> Expanded:
    """Expand a composed spec's data. Raises `SpecError` with every problem found."""
    return _Expander(data, marks, file, notes or {}).run()
