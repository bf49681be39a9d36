#!/usr/bin/env python3
"""Generates crates/apiserver/src/protobuf/schema.rs, the message table behind protobuf decoding.

kubectl's typed clients send request bodies as `application/vnd.kubernetes.protobuf`. The server
turns them into JSON with one table-driven decoder (src/protobuf/mod.rs); this script writes its
table.

Inputs (both are source crates already in the cargo registry, found under ~/.cargo/registry/src):
  * k8s-pb 0.9.0: prost-generated Rust for upstream's generated.proto files. Gives each message's
    fields: tag number, wire type (`#[prost(int32, optional, tag = "4")]`), repeated/map, and the
    message type of message fields.
  * k8s-openapi 0.29.0, src/v1_33: the JSON side. Gives each definition's JSON field names (its
    deserializer's `"podIPs" => Field::Key_pod_ips,` lines), whether a field is required (not an
    `Option<..>` in the struct: its zero value is written even when the body leaves it out, as Go
    does), and the top-level kinds (`impl crate::Resource`: API_VERSION and KIND).

Messages are matched by group/version module and name (case-insensitively: prost spells `JSON`
as `Json`), fields by name with case, `_`, `-` and `$` ignored (prost writes `podIPs` as
`pod_i_ps`). A proto field with no JSON counterpart is not in the v1_33 API and is left out (the
decoder skips it like any unknown field), unless it is a message whose fields the JSON object has:
an embedded Go struct (`json:",inline"`, e.g. Volume's VolumeSource), written with card `Inline`. Only messages reachable from the top-level kinds of
the GA group versions (`v1`, `v2`, ...) are written. Upstream's special types are decoded to their
JSON forms by the decoder: IntOrString, Quantity, Time, MicroTime, Duration, RawExtension,
FieldsV1 and apiextensions' JSON, the JSONSchemaPropsOr* unions, and single-`items` list wrappers
such as ExtraValue (a JSON array).

A third input, checked in beside this script, is tools/protobuf_pointers.txt: the Go struct
fields of upstream's types that are pointers (`Replicas *int32`), one `module.Struct.jsonName` a
line. On the wire Go writes every non-pointer field, zero or not, and a pointer field only when it
is set, so a zero int, bool or string is left out of the JSON (as `omitempty` does) unless its
field is a pointer (card `Ptr`): `replicas: 0` and `allowPrivilegeEscalation: false` survive.
Neither crate records pointers; the list is read from upstream's Go sources (types.go of
k8s.io/api, k8s.io/apimachinery, k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator) with
    python3 crates/apiserver/tools/protobuf_schema.py --go-pointers \
        api=DIR apimachinery=DIR apiextensions_apiserver=DIR kube_aggregator=DIR
where each DIR is a checkout (or Go module cache copy) of that repository; this rewrites the
list, then the schema.

Rerun after bumping either crate (adjust the versions below), from the repository root:
    python3 crates/apiserver/tools/protobuf_schema.py
then `cargo fmt --all --check` (the tables are `#[rustfmt::skip]`) and the apiserver tests.
"""

import glob
import os
import re
import sys
from collections import deque

K8S_PB = "k8s-pb-0.9.0"
K8S_OPENAPI = "k8s-openapi-0.29.0"
OPENAPI_VERSION = "v1_33"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "protobuf", "schema.rs")
POINTERS = os.path.join(HERE, "protobuf_pointers.txt")
# Where each Go repository's packages sit among k8s-pb's modules.
GO_REPOS = {"api": "api", "apimachinery": "apimachinery", "apiextensions_apiserver": "apiextensions_apiserver",
            "kube_aggregator": "kube_aggregator"}

# Upstream types whose JSON form is not an object of their fields, by proto module and name.
SPECIAL = {
    "apimachinery/pkg/util/intstr.intorstring": "IntOrString",
    "apimachinery/pkg/api/resource.quantity": "Quantity",
    "apimachinery/pkg/apis/meta/v1.time": "Time",
    "apimachinery/pkg/apis/meta/v1.microtime": "MicroTime",
    "apimachinery/pkg/apis/meta/v1.duration": "Duration",
    "apimachinery/pkg/runtime.rawextension": "Raw",
    "apimachinery/pkg/apis/meta/v1.fieldsv1": "Raw",
    "apiextensions_apiserver/pkg/apis/apiextensions/v1.json": "Raw",
}
# Unions: the JSON value is that of the highest-numbered field that is set.
UNIONS = {
    "apiextensions_apiserver/pkg/apis/apiextensions/v1.jsonschemapropsorarray",
    "apiextensions_apiserver/pkg/apis/apiextensions/v1.jsonschemapropsorbool",
    "apiextensions_apiserver/pkg/apis/apiextensions/v1.jsonschemapropsorstringarray",
}

SCALARS = {"string": "Str", "bytes": "Bytes", "bool": "Bool", "int32": "I32", "int64": "I64", "double": "F64"}


def crate_src(name):
    found = glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}/src"))
    if not found:
        sys.exit(f"{name} is not in ~/.cargo/registry/src: run `cargo fetch` in a project that depends on it")
    return found[0]


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve(path, module):
    """Resolves a prost type path written in `module` to (module, lowercased name)."""
    path = path.replace("::prost::alloc::boxed::Box<", "").rstrip(">").strip()
    parts = path.split("::")
    mod = list(module)
    while parts and parts[0] == "super":
        parts.pop(0)
        mod.pop()
    return "/".join(mod + parts[:-1]) + "." + parts[-1].lower()


def read_pb(src):
    """{module.name: (display name, [(tag, snake name, kind, card, type key or scalar)])}"""
    messages = {}
    attr_re = re.compile(r'#\[prost\((.*)\)\]')
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        module = os.path.relpath(os.path.dirname(path), src).split(os.sep)
        lines = open(path).read().split("\n")
        current, fields, attr = None, None, None
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            m = re.match(r"pub struct (\w+) \{", line)
            if m:
                current, fields = m.group(1), []
                messages["/".join(module) + "." + current.lower()] = (current, fields)
                continue
            if current is None:
                continue
            if line == "}":
                current = None
                continue
            m = attr_re.match(line)
            if m:
                attr = m.group(1)
                continue
            if attr and line.startswith("pub "):
                decl = line
                while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                    decl += " " + lines[i].strip()
                    i += 1
                decl = re.sub(r"<\s+", "<", re.sub(r",\s*>", ">", decl))
                name, ty = re.match(r"pub (?:r#)?(\w+):\s*(.*),$", decl).groups()
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                kind = attr.split(",")[0].strip()
                if kind.startswith("btree_map") or kind.startswith("map"):
                    key, value = re.search(r'map = "(\w+), (\w+)"', attr).groups()
                    assert key == "string", decl
                    if value == "message":
                        inner = re.search(r"BTreeMap<[^,]+,\s*(.*)>$", ty).group(1)
                        fields.append((tag, name, "map", resolve(inner, module)))
                    else:
                        fields.append((tag, name, "map", value))
                    attr = None
                    continue
                card = "repeated" if "repeated" in attr else "optional"
                if kind == "message":
                    inner = re.search(r"(?:Option|Vec)<(.*)>$", ty).group(1)
                    fields.append((tag, name, card, resolve(inner, module)))
                else:
                    kind = kind.split(" ")[0]
                    assert kind in SCALARS, decl
                    fields.append((tag, name, card, kind))
                attr = None
    return messages


def read_openapi(src):
    """({module.name: {norm name: (json name, required)}}, [(apiVersion, kind, module.name)])"""
    defs, kinds = {}, []
    for path in sorted(glob.glob(os.path.join(src, "**", "*.rs"), recursive=True)):
        text = open(path).read()
        m = re.match(r"// Generated from definition io\.k8s\.([\w.-]+)", text)
        if not m:
            continue
        parts = m.group(1).split(".")
        key = "/".join(p.replace("-", "_") for p in parts[:-1]) + "." + parts[-1].lower()
        struct = re.search(r"pub struct \w+ \{\n(.*?)\n\}", text, re.S)
        if not struct:
            defs[key] = {}
            continue
        rust_fields = dict(re.findall(r"^    pub (\w+): (.*),$", struct.group(1), re.M))
        json_names = dict((rust, js) for js, rust in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text))
        fields = {}
        for rust, ty in rust_fields.items():
            js = json_names[rust]
            fields[norm(js)] = (js, not ty.startswith("Option<"))
        defs[key] = fields
        api_version = re.search(r'const API_VERSION: &\'static str = "([^"]+)";', text)
        kind = re.search(r'const KIND: &\'static str = "([^"]+)";', text)
        if api_version and kind and not key.startswith("apimachinery/"):
            kinds.append((api_version.group(1), kind.group(1), key))
    return defs, kinds


def write_pointers(roots):
    """Writes POINTERS from Go sources: {repository name: directory}."""
    field_re = re.compile(r'^\s+(\w+)\s+(\S+)\s+`json:"([^",]*)[^"]*"[^`]*protobuf:"[^`]*`')
    found = set()
    for repo, root in roots.items():
        for path in glob.glob(os.path.join(root, "**", "*.go"), recursive=True):
            rel = os.path.relpath(os.path.dirname(path), root)
            if path.endswith("_test.go") or not re.fullmatch(r"v\d+", os.path.basename(rel)):
                continue
            module = GO_REPOS[repo] + "/" + rel.replace(os.sep, "/")
            struct = None
            for line in open(path):
                m = re.match(r"type (\w+) struct \{", line)
                if m:
                    struct = m.group(1)
                elif line.startswith("}"):
                    struct = None
                elif struct:
                    m = field_re.match(line)
                    if m and m.group(2).startswith("*") and m.group(3) not in ("", "-"):
                        found.add(f"{module}.{struct}.{m.group(3)}")
    with open(POINTERS, "w") as f:
        f.write("# Go struct fields that are pointers, as module.Struct.jsonName: written by\n")
        f.write("# protobuf_schema.py --go-pointers from upstream's types.go files; do not edit.\n")
        f.write("".join(line + "\n" for line in sorted(found)))


def read_pointers():
    """{module.lowercased struct: {json name}}"""
    pointers = {}
    for line in open(POINTERS):
        if line.strip() and not line.startswith("#"):
            message, js = line.strip().rsplit(".", 1)
            module, struct = message.rsplit(".", 1)
            pointers.setdefault(f"{module}.{struct.lower()}", set()).add(js)
    return pointers


def main():
    if sys.argv[1:2] == ["--go-pointers"]:
        write_pointers(dict(arg.split("=", 1) for arg in sys.argv[2:]))
    pointers = read_pointers()
    pb = read_pb(crate_src(K8S_PB))
    defs, kinds = read_openapi(os.path.join(crate_src(K8S_OPENAPI), OPENAPI_VERSION))
    kinds = sorted(k for k in kinds if re.fullmatch(r"v\d+", k[0].split("/")[-1]))

    order, index, queue = [], {}, deque()

    def visit(key):
        if key in SPECIAL:
            return None
        if key not in index:
            if key not in pb:
                sys.exit(f"no protobuf message for {key}")
            index[key] = len(order)
            order.append(key)
            queue.append(key)
        return index[key]

    for _, _, key in kinds:
        visit(key)
    table, skipped = {}, []
    while queue:
        key = queue.popleft()
        display, fields = pb[key]
        json_fields = defs.get(key)
        if json_fields is None and not (key in UNIONS or is_wrapper(pb[key][1])):
            sys.exit(f"no JSON definition for {key}")
        rows = []
        for tag, name, card, ty in sorted(fields):
            inline = False
            if key in UNIONS or json_fields is None:
                js, required = name, False
            elif norm(name) in json_fields:
                js, required = json_fields[norm(name)]
            elif card == "optional" and ty in pb and any(norm(f[1]) in json_fields for f in pb[ty][1]):
                # An embedded Go struct (`json:",inline"`): its fields are the parent's.
                inline, js, required = True, "", False
                if ty not in defs:
                    defs[ty] = json_fields
            else:
                skipped.append(f"{key}.{name}")
                continue
            if ty in SCALARS:
                rust_ty = SCALARS[ty]
            elif ty in SPECIAL:
                rust_ty = SPECIAL[ty]
            else:
                target = visit(ty)
                if ty in UNIONS:
                    rust_ty = f"Union({target})"
                elif ty not in defs and is_wrapper(pb[ty][1]):
                    rust_ty = f"Items({target})"
                else:
                    rust_ty = f"Msg({target})"
            rust_card = {"repeated": "Rep", "map": "Map"}.get(card, "Req" if required else "Opt")
            if rust_card == "Opt" and ty in SCALARS and js in pointers.get(key, ()):
                rust_card = "Ptr"
            if inline:
                rust_card = "Inline"
            rows.append(f'F({tag}, "{js}", {rust_ty}, {rust_card})')
        module = key.split(".")[0]
        short = module.replace("apimachinery/pkg/apis/", "").replace("apiextensions_apiserver/pkg/apis/", "")
        short = short.replace("kube_aggregator/pkg/apis/", "").replace("api/", "").replace("/", ".")
        table[key] = (f"{short}.{display}", rows)

    out = [
        "// @generated by tools/protobuf_schema.py — do not edit",
        f"//! The protobuf messages of the top-level kinds of the Kubernetes {OPENAPI_VERSION.replace('_', '.')} GA group",
        f"//! versions, from {K8S_PB} (tags, wire types) and {K8S_OPENAPI} (JSON names, required fields).",
        "",
        "use super::{Card::*, F, Kind, Message, Ty::*};",
        "",
        "/// `(apiVersion, kind, message)` sorted by apiVersion and kind.",
        "#[rustfmt::skip]",
        "pub(super) static KINDS: &[Kind] = &[",
    ]
    for api_version, kind, key in kinds:
        out.append(f'    ("{api_version}", "{kind}", {index[key]}),')
    out += ["];", "", "#[rustfmt::skip]", "pub(super) static MESSAGES: &[Message] = &["]
    for i, key in enumerate(order):
        name, rows = table[key]
        line = f'    /* {i} */ ("{name}", &[{", ".join(rows)}]),'
        if len(line) <= 110:
            out.append(line)
            continue
        out.append(f'    /* {i} */ ("{name}", &[')
        chunk = "       "
        for row in rows:
            if len(chunk) + len(row) + 2 > 110:
                out.append(chunk)
                chunk = "       "
            chunk += f" {row},"
        out += [chunk, "    ]),"]
    out += ["];", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(out))
    print(f"{len(kinds)} kinds, {len(order)} messages, {sum(len(r) for _, r in table.values())} fields; "
          f"{len(skipped)} proto fields not in {OPENAPI_VERSION}: {', '.join(skipped)}", file=sys.stderr)


def is_wrapper(fields):
    """A Go named slice type such as ExtraValue: message {repeated T items = 1} with no JSON
    definition of its own (DownwardAPIProjection has one: it is an object with `items`)."""
    return len(fields) == 1 and fields[0][:3] == (1, "items", "repeated")


if __name__ == "__main__":
    main()
