#!/usr/bin/python3
"""Validates Kubernetes manifests (a YAML stream) against the official Kubernetes OpenAPI schema.

    /usr/bin/python3 tests/k8s/validate_manifests.py [--openapi DIR] FILE|- ...
    build/cli/hpt render study.yaml --trials 3 | /usr/bin/python3 tests/k8s/validate_manifests.py -

Two layers:
  1. Structure: the OpenAPI v3 documents served by kube-apiserver v1.26.0 (shared/k8s-openapi/,
     or --openapi DIR / $HPT_K8S_OPENAPI) are turned into a JSON Schema: `#/components/schemas/X`
     references are resolved across the batch/v1 and core/v1 documents, an object with fixed
     properties rejects any other key (a misspelled field is an error, as with kubectl's strict
     field validation), `format: int32/int64` bound integers, quantities are strings or numbers,
     int-or-string fields either, and `required` lists hold.
  2. The rules the API server enforces in code, which the schema does not hold (the documents'
     README lists examples): DNS-1123 names, label and annotation syntax and sizes, container and
     volume names, restartPolicy Never/OnFailure for a Job's pods, quantity syntax, extended
     resources (nvidia.com/gpu) being whole numbers with requests equal to limits, requests <=
     limits, non-negative counts, and the like (see `semantic_rules`).

Kinds the documents describe (batch/v1 Job, CronJob; core/v1 Pod, Service, ServiceAccount,
PersistentVolumeClaim, Namespace, ConfigMap, Secret, ...) are checked in full. For apps/v1
Deployment the documents hold only the embedded core types: its metadata and spec.template are
checked, the rest of its spec against a short list of known keys. Other kinds (rbac, ...) get only
their metadata checked; `validate_documents` reports them in `unchecked`.

Each violation prints as `doc N: $.json.path: rule: message` (N counts from 0 over the stream).
Exit status: 0 all valid, 1 violations, 2 bad input (unreadable file, invalid YAML).

Needs Debian's python3-yaml and python3-jsonschema.
"""
import argparse
import copy
import json
import os
import re
import sys
from dataclasses import dataclass

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OPENAPI = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "k8s-openapi"))
OPENAPI_FILES = ("apis__batch__v1_openapi.json", "api__v1_openapi.json")
REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class Violation:
    doc: int    # index of the document in the stream
    path: str   # JSON path, e.g. $.spec.template.spec.containers[0].image
    rule: str   # short rule name, e.g. "schema:additionalProperties" or "dns1123-label"
    message: str

    def __str__(self):
        return f"doc {self.doc}: {self.path}: {self.rule}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Layer 1: OpenAPI v3 -> JSON Schema (draft 7)


def openapi_dir():
    return os.environ.get("HPT_K8S_OPENAPI") or DEFAULT_OPENAPI


def load_openapi_schemas(directory=None):
    """The union of components.schemas of the two documents (batch/v1 wins on equal names)."""
    directory = directory or openapi_dir()
    schemas = {}
    for name in reversed(OPENAPI_FILES):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            schemas.update(json.load(f)["components"]["schemas"])
    return schemas


INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
DROP_KEYS = ("description", "default", "readOnly", "example", "externalDocs", "nullable")


def _convert(node):
    """One OpenAPI schema node -> JSON Schema (draft 7), refs pointing into `definitions`."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROP_KEYS or key.startswith("x-kubernetes-"):
            continue
        if key == "$ref":
            if not value.startswith(REF_PREFIX):
                raise ValueError(f"unsupported $ref {value!r}")
            out["$ref"] = "#/definitions/" + value[len(REF_PREFIX):]
        elif key in ("properties", "patternProperties"):
            out[key] = {k: _convert(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
            out[key] = _convert(value)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        for k in ("type", "format"):
            out.pop(k, None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("type") == "integer" and out.get("format") in INT_BOUNDS:
        lo, hi = INT_BOUNDS[out["format"]]
        out.setdefault("minimum", lo)
        out.setdefault("maximum", hi)
    # An object with fixed properties takes no others (so a misspelled field is caught). Objects
    # without `properties` (maps, RawExtension, FieldsV1) stay open.
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def reachable(schemas, root):
    """Names of the schemas `root` references, transitively (root included)."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise KeyError(f"OpenAPI schema {name!r} not found")
        seen.add(name)
        stack = [schemas[name]]
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                ref = n.get("$ref")
                if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                    todo.append(ref[len(REF_PREFIX):])
                stack.extend(n.values())
            elif isinstance(n, list):
                stack.extend(n)
    return seen


def build_json_schema(schemas, root, api_version=None, kind=None):
    """A self-contained JSON Schema for the OpenAPI schema `root` (and all it references)."""
    definitions = {name: _convert(schemas[name]) for name in sorted(reachable(schemas, root))}
    top = copy.deepcopy(definitions[root])
    if api_version and kind:
        top["required"] = sorted(set(top.get("required", [])) | {"apiVersion", "kind"})
        top["properties"]["apiVersion"] = {"const": api_version}
        top["properties"]["kind"] = {"const": kind}
    top["$schema"] = "http://json-schema.org/draft-07/schema#"
    top["definitions"] = definitions
    return top


def kinds_in(schemas):
    """(apiVersion, kind) -> schema name, from x-kubernetes-group-version-kind."""
    out = {}
    for name, s in schemas.items():
        for gvk in s.get("x-kubernetes-group-version-kind", []):
            group, version = gvk.get("group", ""), gvk["version"]
            # Only the object kinds, not their option types (DeleteOptions etc. list many GVKs).
            if name.rsplit(".", 1)[-1] != gvk["kind"]:
                continue
            out[(f"{group}/{version}" if group else version, gvk["kind"])] = name
    return out


def _json_path(parts):
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if re.fullmatch(r"[A-Za-z_][\w]*", p)
                                                    else f"[{json.dumps(p)}]")
    return out


def _deepest(error):
    """For anyOf/oneOf/allOf failures, the most specific sub-error (the deepest path)."""
    best = error
    for sub in error.context or ():
        cand = _deepest(sub)
        if len(cand.absolute_path) > len(best.absolute_path):
            best = cand
    return best


# ---------------------------------------------------------------------------------------------
# Layer 2: rules the schema does not hold (Kubernetes apimachinery / core validation)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# resource.Quantity: <signedNumber><suffix>, suffix binary (Ki..Ei), decimal (n u m "" k M G T P E)
# or a decimal exponent (e3, E-2).
QUANTITY = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
                      r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
          "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "P": 1e15, "E": 1e18}
STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
MAX_ANNOTATIONS_BYTES = 256 * 1024
DEPLOYMENT_SPEC_KEYS = {"replicas", "selector", "template", "strategy", "minReadySeconds",
                        "revisionHistoryLimit", "paused", "progressDeadlineSeconds"}


def parse_quantity(value):
    """The quantity's value as a float, or None when it is not a valid resource.Quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not QUANTITY.match(value):
        return None
    m = re.match(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$", value)
    number, suffix = float(m.group(1)), m.group(2)
    if suffix[:1] in ("e", "E") and suffix not in SUFFIX:
        return number * 10 ** int(suffix[1:])
    return number * SUFFIX[suffix]


class _Checker:
    def __init__(self, doc_index):
        self.doc = doc_index
        self.out = []

    def err(self, path, rule, message):
        self.out.append(Violation(self.doc, _json_path(path), rule, message))

    # -- names --------------------------------------------------------------------------------
    def dns_label(self, path, value, what="a DNS-1123 label"):
        if not isinstance(value, str):
            return
        if len(value) > 63:
            self.err(path, "dns1123-label", f"{value!r} is {len(value)} characters; at most 63")
        if not DNS1123_LABEL.match(value):
            self.err(path, "dns1123-label", f"{value!r} is not {what}: lower-case alphanumerics "
                     "and '-', starting and ending with an alphanumeric")

    def dns_subdomain(self, path, value, max_len=253):
        if not isinstance(value, str):
            return
        if len(value) > max_len:
            self.err(path, "dns1123-subdomain",
                     f"{value!r} is {len(value)} characters; at most {max_len}")
        if not DNS1123_SUBDOMAIN.match(value):
            self.err(path, "dns1123-subdomain", f"{value!r} is not a DNS-1123 subdomain: "
                     "lower-case alphanumerics, '-' and '.', each part starting and ending with "
                     "an alphanumeric")

    def qualified_name(self, path, key, what):
        """A label or annotation key: [prefix/]name, prefix a DNS subdomain <= 253, name <= 63."""
        if not isinstance(key, str):
            return
        if key.count("/") > 1:
            self.err(path, f"{what}-key", f"{key!r}: at most one '/'")
            return
        prefix, _, name = key.rpartition("/")
        if "/" in key and not prefix:
            self.err(path, f"{what}-key", f"{key!r}: the prefix before '/' must not be empty")
        if prefix:
            if len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix):
                self.err(path, f"{what}-key", f"{key!r}: prefix {prefix!r} must be a DNS-1123 "
                         "subdomain of at most 253 characters")
        if len(name) > 63 or not LABEL_NAME.match(name):
            self.err(path, f"{what}-key", f"{key!r}: name part {name!r} must be 1-63 characters: "
                     "alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric")

    def metadata(self, path, meta, kind, namespaced=True):
        if not isinstance(meta, dict):
            return
        name = meta.get("name")
        if name is not None:
            # Job names become the pods' job-name label value, so Kubernetes caps them at 63.
            if kind in ("Job", "CronJob"):
                self.dns_subdomain(path + ["name"], name, max_len=63)
            elif kind in ("Namespace", "Service"):
                self.dns_label(path + ["name"], name)
            else:
                self.dns_subdomain(path + ["name"], name)
        if "namespace" in meta:
            self.dns_label(path + ["namespace"], meta["namespace"])
        for key, value in (meta.get("labels") or {}).items():
            self.qualified_name(path + ["labels", key], key, "label")
            if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE.match(value)):
                self.err(path + ["labels", key], "label-value",
                         f"{value!r}: at most 63 characters: alphanumerics, '-', '_' and '.', "
                         "starting and ending with an alphanumeric (or empty)")
        annotations = meta.get("annotations") or {}
        total = 0
        for key, value in annotations.items():
            self.qualified_name(path + ["annotations", key], key, "annotation")
            total += len(str(key).encode()) + len(str(value).encode())
        if total > MAX_ANNOTATIONS_BYTES:
            self.err(path + ["annotations"], "annotations-size",
                     f"{total} bytes in all; at most {MAX_ANNOTATIONS_BYTES}")

    def non_negative(self, path, obj, key, strictly=False):
        v = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v < 0 or (strictly and v == 0):
                self.err(path + [key], "range",
                         f"{v} must be {'> 0' if strictly else '>= 0'}")

    # -- pods ---------------------------------------------------------------------------------
    def resources(self, path, res):
        if not isinstance(res, dict):
            return
        parsed = {}
        for which in ("limits", "requests"):
            for rname, q in (res.get(which) or {}).items():
                p = path + [which, rname]
                if rname not in STANDARD_RESOURCES:
                    self.qualified_name(p, rname, "resource-name")
                    if "/" not in rname and not rname.startswith("hugepages-"):
                        self.err(p, "resource-name", f"{rname!r}: a resource other than "
                                 f"{sorted(STANDARD_RESOURCES)} needs a domain prefix "
                                 "(e.g. nvidia.com/gpu)")
                v = parse_quantity(q)
                if v is None:
                    self.err(p, "quantity", f"{q!r} is not a quantity: a number with an optional "
                             "suffix (Ki Mi Gi Ti Pi Ei, m k M G T P E, or eN), e.g. 500m or 2Gi")
                    continue
                if v < 0:
                    self.err(p, "quantity", f"{q!r} must not be negative")
                if rname not in STANDARD_RESOURCES and "/" in rname and v != int(v):
                    self.err(p, "extended-resource", f"{q!r}: {rname} must be a whole number")
                parsed[(which, rname)] = v
        for (which, rname), v in parsed.items():
            if which != "requests":
                continue
            limit = parsed.get(("limits", rname))
            extended = rname not in STANDARD_RESOURCES and not rname.startswith("hugepages-")
            if extended:
                if limit is None:
                    self.err(path + ["requests", rname], "extended-resource",
                             f"{rname} requested without a limit; extended resources need "
                             "requests equal to limits")
                elif limit != v:
                    self.err(path + ["requests", rname], "extended-resource",
                             f"{rname} request must equal its limit")
            elif limit is not None and v > limit:
                self.err(path + ["requests", rname], "requests<=limits",
                         f"{rname} request {res['requests'][rname]!r} exceeds its limit "
                         f"{res['limits'][rname]!r}")

    def container(self, path, c, volume_names, seen_names):
        if not isinstance(c, dict):
            return
        name = c.get("name")
        self.dns_label(path + ["name"], name, "a DNS-1123 label (container name)")
        if isinstance(name, str):
            if name in seen_names:
                self.err(path + ["name"], "unique-name", f"container name {name!r} used twice")
            seen_names.add(name)
        if not c.get("image"):
            self.err(path + ["image"], "required",
                     "a container needs an image (Kubernetes: 'Required value')")
        self.resources(path + ["resources"], c.get("resources"))
        for i, e in enumerate(c.get("env") or []):
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                if not ENV_NAME.match(e["name"]):
                    self.err(path + ["env", i, "name"], "env-name",
                             f"{e['name']!r}: letters, digits, '_', '-' and '.', not starting "
                             "with a digit")
        port_names = set()
        for i, p in enumerate(c.get("ports") or []):
            if not isinstance(p, dict):
                continue
            cp = p.get("containerPort")
            if isinstance(cp, int) and not 1 <= cp <= 65535:
                self.err(path + ["ports", i, "containerPort"], "port", f"{cp} not in 1..65535")
            pn = p.get("name")
            if pn is not None:
                if not isinstance(pn, str) or len(pn) > 15 or not re.match(
                        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", pn) or not re.search(r"[a-z]", pn) \
                        or "--" in pn:
                    self.err(path + ["ports", i, "name"], "port-name",
                             f"{pn!r}: an IANA service name: at most 15 lower-case "
                             "alphanumerics and '-', with a letter, no '--'")
                elif pn in port_names:
                    self.err(path + ["ports", i, "name"], "unique-name", f"{pn!r} used twice")
                port_names.add(pn)
        for i, m in enumerate(c.get("volumeMounts") or []):
            if isinstance(m, dict) and m.get("name") not in volume_names:
                self.err(path + ["volumeMounts", i, "name"], "volume-mount",
                         f"{m.get('name')!r} names no volume of the pod")
        policy = c.get("imagePullPolicy")
        if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
            self.err(path + ["imagePullPolicy"], "enum",
                     f"{policy!r}: Always, IfNotPresent or Never")

    def pod_spec(self, path, spec, kind):
        if not isinstance(spec, dict):
            return
        volume_names = set()
        for i, v in enumerate(spec.get("volumes") or []):
            if isinstance(v, dict):
                self.dns_label(path + ["volumes", i, "name"], v.get("name"), "a DNS-1123 label")
                if v.get("name") in volume_names:
                    self.err(path + ["volumes", i, "name"], "unique-name",
                             f"volume {v.get('name')!r} declared twice")
                volume_names.add(v.get("name"))
        if isinstance(spec.get("containers"), list) and not spec["containers"]:
            self.err(path + ["containers"], "required", "at least one container")
        seen = set()
        for field in ("initContainers", "containers"):
            for i, c in enumerate(spec.get(field) or []):
                self.container(path + [field, i], c, volume_names, seen)
        if spec.get("ephemeralContainers") and kind != "Pod":
            self.err(path + ["ephemeralContainers"], "forbidden",
                     "ephemeral containers cannot be set in a pod template")
        restart = spec.get("restartPolicy")
        if kind in ("Job", "CronJob"):
            if restart not in ("Never", "OnFailure"):
                self.err(path + ["restartPolicy"], "job-restart-policy",
                         f"{restart!r}: a Job's pods need restartPolicy Never or OnFailure "
                         "(the default, Always, is rejected)")
        elif kind == "Deployment" and restart not in (None, "Always"):
            self.err(path + ["restartPolicy"], "deployment-restart-policy",
                     f"{restart!r}: a Deployment's pods need restartPolicy Always")
        for key in ("activeDeadlineSeconds",):
            self.non_negative(path, spec, key, strictly=True)
        self.non_negative(path, spec, "terminationGracePeriodSeconds")
        if "priorityClassName" in spec:
            self.dns_subdomain(path + ["priorityClassName"], spec["priorityClassName"])
        if "serviceAccountName" in spec:
            self.dns_subdomain(path + ["serviceAccountName"], spec["serviceAccountName"])
        for key, value in (spec.get("nodeSelector") or {}).items():
            self.qualified_name(path + ["nodeSelector", key], key, "label")
            if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE.match(value)):
                self.err(path + ["nodeSelector", key], "label-value",
                         f"{value!r} is not a label value")
        for i, t in enumerate(spec.get("tolerations") or []):
            if not isinstance(t, dict):
                continue
            p = path + ["tolerations", i]
            op = t.get("operator", "Equal")
            if op not in ("Equal", "Exists"):
                self.err(p + ["operator"], "enum", f"{op!r}: Equal or Exists")
            if op == "Exists" and t.get("value"):
                self.err(p + ["value"], "toleration",
                         "value must be empty when operator is Exists")
            if not t.get("key") and op != "Exists":
                self.err(p + ["operator"], "toleration",
                         "operator must be Exists when key is empty")
            if t.get("key"):
                self.qualified_name(p + ["key"], t["key"], "label")
            effect = t.get("effect")
            if effect not in (None, "", "NoSchedule", "PreferNoSchedule", "NoExecute"):
                self.err(p + ["effect"], "enum",
                         f"{effect!r}: NoSchedule, PreferNoSchedule or NoExecute")
            if "tolerationSeconds" in t and effect != "NoExecute":
                self.err(p + ["tolerationSeconds"], "toleration",
                         "tolerationSeconds needs effect NoExecute")

    def pod_template(self, path, template, kind):
        if not isinstance(template, dict):
            return
        self.metadata(path + ["metadata"], template.get("metadata"), "PodTemplate")
        self.pod_spec(path + ["spec"], template.get("spec"), kind)

    def selector_matches(self, path, selector, template):
        if not isinstance(selector, dict) or not isinstance(template, dict):
            return
        labels = (template.get("metadata") or {}).get("labels") or {}
        for k, v in (selector.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                self.err(path + ["matchLabels", k], "selector",
                         f"the pod template's labels do not carry {k}={v!r}")

    # -- kinds --------------------------------------------------------------------------------
    def job_spec(self, path, spec):
        if not isinstance(spec, dict):
            return
        for key in ("backoffLimit", "parallelism", "completions", "ttlSecondsAfterFinished"):
            self.non_negative(path, spec, key)
        self.non_negative(path, spec, "activeDeadlineSeconds", strictly=True)
        if spec.get("completionMode") not in (None, "NonIndexed", "Indexed"):
            self.err(path + ["completionMode"], "enum",
                     f"{spec['completionMode']!r}: NonIndexed or Indexed")
        if spec.get("selector") is not None and not spec.get("manualSelector"):
            self.err(path + ["selector"], "job-selector",
                     "Kubernetes generates a Job's selector; set manualSelector: true to give one")
        self.pod_template(path + ["template"], spec.get("template"), "Job")

    def document(self, doc):
        kind = doc.get("kind")
        self.metadata(["metadata"], doc.get("metadata"), kind)
        meta = doc.get("metadata")
        if isinstance(meta, dict) and not meta.get("name") and not meta.get("generateName"):
            self.err(["metadata", "name"], "required", "metadata.name (or generateName) is needed")
        spec = doc.get("spec")
        if kind == "Job":
            self.job_spec(["spec"], spec)
        elif kind == "CronJob" and isinstance(spec, dict):
            jt = spec.get("jobTemplate") or {}
            self.metadata(["spec", "jobTemplate", "metadata"], jt.get("metadata"), "Job")
            self.job_spec(["spec", "jobTemplate", "spec"], jt.get("spec"))
        elif kind == "Pod":
            self.pod_spec(["spec"], spec, "Pod")
        elif kind == "Deployment" and isinstance(spec, dict):
            for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
                self.non_negative(["spec"], spec, key)
            self.selector_matches(["spec", "selector"], spec.get("selector"),
                                  spec.get("template"))
            self.pod_template(["spec", "template"], spec.get("template"), "Deployment")
        elif kind == "Service" and isinstance(spec, dict):
            for i, p in enumerate(spec.get("ports") or []):
                if isinstance(p, dict):
                    port = p.get("port")
                    if isinstance(port, int) and not 1 <= port <= 65535:
                        self.err(["spec", "ports", i, "port"], "port", f"{port} not in 1..65535")
                    if len(spec["ports"]) > 1 and not p.get("name"):
                        self.err(["spec", "ports", i, "name"], "required",
                                 "a Service with several ports must name each")
        elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
            storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            if storage is None:
                self.err(["spec", "resources", "requests", "storage"], "required",
                         "a PersistentVolumeClaim must request storage")
            self.resources(["spec", "resources"], spec.get("resources"))
            if not spec.get("accessModes"):
                self.err(["spec", "accessModes"], "required", "at least one access mode")
        return self.out


# ---------------------------------------------------------------------------------------------
# The validator


class ManifestValidator:
    """Validates manifests (parsed YAML documents) against the OpenAPI schema and the code rules.

    Building the schemas reads the OpenAPI documents once; `validate_documents` may be called any
    number of times. Not thread-safe (caches validators lazily)."""

    def __init__(self, directory=None):
        self.schemas = load_openapi_schemas(directory)
        self.kinds = kinds_in(self.schemas)
        self._validators = {}
        self.unchecked = []  # (doc index, "apiVersion kind") the schema does not describe

    def _validator(self, root, api_version=None, kind=None):
        key = (root, api_version, kind)
        if key not in self._validators:
            schema = build_json_schema(self.schemas, root, api_version, kind)
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._validators[key] = cls(schema)
        return self._validators[key]

    def _schema_errors(self, index, instance, root, prefix, api_version=None, kind=None):
        out = []
        for e in self._validator(root, api_version, kind).iter_errors(instance):
            e = _deepest(e)
            out.append(Violation(index, _json_path(list(prefix) + list(e.absolute_path)),
                                 f"schema:{e.validator}", e.message))
        return out

    def validate_document(self, index, doc):
        if not isinstance(doc, dict):
            return [Violation(index, "$", "object", "a manifest must be a mapping")]
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not api_version or not kind:
            return [Violation(index, "$", "required", "apiVersion and kind are needed")]
        out = []
        root = self.kinds.get((api_version, kind))
        if root:
            out += self._schema_errors(index, doc, root, [], api_version, kind)
        elif (api_version, kind) == ("apps/v1", "Deployment"):
            meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
            out += self._schema_errors(index, doc.get("metadata", {}), meta, ["metadata"])
            spec = doc.get("spec")
            if not isinstance(spec, dict):
                out.append(Violation(index, "$.spec", "required", "a Deployment needs a spec"))
            else:
                for key in sorted(set(spec) - DEPLOYMENT_SPEC_KEYS):
                    out.append(Violation(index, _json_path(["spec", key]),
                                         "schema:additionalProperties",
                                         f"unknown DeploymentSpec field {key!r}"))
                for key in ("selector", "template"):
                    if key not in spec:
                        out.append(Violation(index, _json_path(["spec", key]), "required",
                                             f"DeploymentSpec needs {key}"))
                out += self._schema_errors(
                    index, spec.get("selector", {}),
                    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", ["spec", "selector"])
                out += self._schema_errors(index, spec.get("template", {}),
                                           "io.k8s.api.core.v1.PodTemplateSpec",
                                           ["spec", "template"])
            self.unchecked.append((index, f"{api_version} {kind} (only metadata, selector and "
                                   "template against the schema)"))
        else:
            meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
            out += self._schema_errors(index, doc.get("metadata", {}), meta, ["metadata"])
            self.unchecked.append((index, f"{api_version} {kind} (only metadata)"))
        out += _Checker(index).document(doc)
        return out

    def validate_documents(self, docs):
        """Every violation in the documents (None documents, from empty `---`, are skipped)."""
        out = []
        for i, doc in enumerate(docs):
            if doc is not None:
                out += self.validate_document(i, doc)
        return out


def load_stream(text):
    """The documents of a YAML stream (empty ones dropped, indices renumbered)."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="YAML stream files, - for stdin")
    ap.add_argument("--openapi", help=f"folder of the OpenAPI documents (default {openapi_dir()})")
    args = ap.parse_args(argv)
    validator = ManifestValidator(args.openapi)
    failed = False
    for name in args.files:
        try:
            text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()
            docs = load_stream(text)
        except (OSError, yaml.YAMLError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            return 2
        validator.unchecked = []
        violations = validator.validate_documents(docs)
        for v in violations:
            print(f"{name}: {v}")
        for index, what in validator.unchecked:
            print(f"{name}: doc {index}: not in the OpenAPI documents: {what}", file=sys.stderr)
        print(f"{name}: {len(docs)} document(s), {len(violations)} violation(s)", file=sys.stderr)
        failed = failed or bool(violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
