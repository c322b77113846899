"""The Kubernetes manifests hpt renders, and those in deploy/, against the official schema.

Run by ctest: /usr/bin/python3 tests/k8s/test_manifests.py HPT_BINARY SOURCE_DIR
Needs Debian's python3-yaml and python3-jsonschema, and the OpenAPI documents in
shared/k8s-openapi beside the checkout (or $HPT_K8S_OPENAPI); Katib's example studies come from
$HPT_KATIB_FIXTURES or shared/peers/katib beside the checkout, and are skipped when absent.
"""
import copy
import os
import subprocess
import sys
import unittest

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validate_manifests as vm  # noqa: E402

HPT = None
SRC = None
VALIDATOR = None


def hpt(*args, timeout=120):
    return subprocess.run([HPT, *args], capture_output=True, text=True, timeout=timeout)


def katib_dir():
    return os.environ.get("HPT_KATIB_FIXTURES") or os.path.join(SRC, "..", "shared", "peers", "katib")


def render(study, trials):
    r = hpt("render", study, "--trials", str(trials))
    if r.returncode != 0:
        raise AssertionError(f"hpt render {study} failed ({r.returncode}): {r.stderr}")
    return vm.load_stream(r.stdout)


def problems(docs):
    return [str(v) for v in VALIDATOR.validate_documents(docs)]


def good_job():
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "study-00001", "namespace": "default",
                     "labels": {"hpt.dev/study": "study"},
                     "annotations": {"ai.bloomberg.com/project": "foo"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"hpt.dev/trial": "study-00001"}},
                "spec": {
                    "containers": [{
                        "name": "training",
                        "image": "python:3.11-slim",
                        "command": ["python3", "train.py", "--lr=0.1"],
                        "resources": {"limits": {"cpu": "500m", "memory": "1Gi",
                                                 "nvidia.com/gpu": 1}},
                        "ports": [{"containerPort": 8080, "name": "http"}],
                    }],
                    "restartPolicy": "Never",
                },
            },
        },
    }


class NeedsSchema(unittest.TestCase):
    def setUp(self):
        if VALIDATOR is None:
            self.skipTest(f"Kubernetes OpenAPI documents not found at {vm.openapi_dir()} "
                          "(set HPT_K8S_OPENAPI)")


class Validator(NeedsSchema):
    """The validator itself: a good Job passes; each kind of mistake is reported where it is."""

    def assertOnly(self, doc, path, rule):
        got = [(v.doc, v.path, v.rule) for v in VALIDATOR.validate_documents([doc])]
        self.assertEqual(got, [(0, path, rule)], problems([doc]))

    def test_good_job_passes(self):
        self.assertEqual(problems([good_job()]), [])

    def test_misspelled_field(self):
        doc = good_job()
        doc["spec"]["backofLimit"] = doc["spec"].pop("backoffLimit")
        self.assertOnly(doc, "$.spec", "schema:additionalProperties")
        self.assertIn("'backofLimit' was unexpected", problems([doc])[0])

    def test_misspelled_field_deep_in_the_pod(self):
        doc = good_job()
        doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {"cpu": "1"}
        self.assertOnly(doc, "$.spec.template.spec.containers[0].resources",
                        "schema:additionalProperties")

    def test_bad_names(self):
        doc = good_job()
        doc["metadata"]["name"] = "Study_00001"
        self.assertOnly(doc, "$.metadata.name", "dns1123-subdomain")
        doc["metadata"]["name"] = "a" * 64
        self.assertOnly(doc, "$.metadata.name", "dns1123-subdomain")
        doc["metadata"]["name"] = "a" * 63
        self.assertEqual(problems([doc]), [])
        doc = good_job()
        doc["spec"]["template"]["spec"]["containers"][0]["name"] = "Training"
        self.assertOnly(doc, "$.spec.template.spec.containers[0].name", "dns1123-label")

    def test_missing_image(self):
        doc = good_job()
        del doc["spec"]["template"]["spec"]["containers"][0]["image"]
        self.assertOnly(doc, "$.spec.template.spec.containers[0].image", "required")

    def test_bad_quantity(self):
        doc = good_job()
        doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1GB"
        self.assertOnly(doc, '$.spec.template.spec.containers[0].resources.limits.memory',
                        "quantity")

    def test_fractional_gpu_and_request_without_equal_limit(self):
        doc = good_job()
        res = doc["spec"]["template"]["spec"]["containers"][0]["resources"]
        res["limits"]["nvidia.com/gpu"] = "500m"
        self.assertOnly(doc, '$.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]',
                        "extended-resource")
        res["limits"]["nvidia.com/gpu"] = 1
        res["requests"] = {"nvidia.com/gpu": 2}
        self.assertOnly(doc, '$.spec.template.spec.containers[0].resources.requests["nvidia.com/gpu"]',
                        "extended-resource")

    def test_restart_policy_always(self):
        doc = good_job()
        doc["spec"]["template"]["spec"]["restartPolicy"] = "Always"
        self.assertOnly(doc, "$.spec.template.spec.restartPolicy", "job-restart-policy")
        del doc["spec"]["template"]["spec"]["restartPolicy"]  # the default is Always
        self.assertOnly(doc, "$.spec.template.spec.restartPolicy", "job-restart-policy")

    def test_wrong_types_and_ranges(self):
        doc = good_job()
        doc["spec"]["backoffLimit"] = "3"
        self.assertOnly(doc, "$.spec.backoffLimit", "schema:type")
        doc["spec"]["backoffLimit"] = -1
        self.assertOnly(doc, "$.spec.backoffLimit", "range")
        doc["spec"]["backoffLimit"] = 2**31
        self.assertOnly(doc, "$.spec.backoffLimit", "schema:maximum")

    def test_int_or_string(self):
        doc = good_job()
        c = doc["spec"]["template"]["spec"]["containers"][0]
        c["readinessProbe"] = {"httpGet": {"port": "http", "path": "/"}}
        self.assertEqual(problems([doc]), [])
        c["readinessProbe"]["httpGet"]["port"] = 8080
        self.assertEqual(problems([doc]), [])
        c["readinessProbe"]["httpGet"]["port"] = [8080]
        self.assertEqual(len(problems([doc])), 1, problems([doc]))

    def test_labels_and_annotations(self):
        doc = good_job()
        doc["metadata"]["labels"] = {"hpt.dev/study": "-x", "a/b/c": "v", "_k": "v"}
        got = sorted((v.path, v.rule) for v in VALIDATOR.validate_documents([doc]))
        self.assertEqual(got, [("$.metadata.labels._k", "label-key"),
                               ('$.metadata.labels["a/b/c"]', "label-key"),
                               ('$.metadata.labels["hpt.dev/study"]', "label-value")])
        doc = good_job()
        doc["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
        self.assertOnly(doc, "$.metadata.annotations", "annotations-size")

    def test_missing_kind_and_wrong_api_version(self):
        doc = good_job()
        doc["apiVersion"] = "batch/v2"
        # Not a kind the documents describe: only metadata is checked, and it says so.
        VALIDATOR.unchecked = []
        self.assertEqual(problems([doc]), [])
        self.assertEqual(len(VALIDATOR.unchecked), 1)
        del doc["kind"]
        self.assertOnly(doc, "$", "required")

    def test_document_index(self):
        bad = good_job()
        bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
        got = VALIDATOR.validate_documents([good_job(), good_job(), bad])
        self.assertEqual([(v.doc, v.rule) for v in got], [(2, "job-restart-policy")])

    def test_command_line(self):
        bad = good_job()
        del bad["spec"]["template"]["spec"]["containers"][0]["image"]
        text = yaml.safe_dump_all([good_job(), bad])
        r = subprocess.run([sys.executable, vm.__file__, "-"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "-: doc 1: $.spec.template.spec.containers[0].image: required: "
                         "a container needs an image (Kubernetes: 'Required value')\n")
        r = subprocess.run([sys.executable, vm.__file__, "-"], input=yaml.safe_dump(good_job()),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        r = subprocess.run([sys.executable, vm.__file__, "-"], input="a: [", capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 2)


class RenderedJobs(NeedsSchema):
    """Every Job hpt renders passes the schema and the API server's rules."""

    def check_study(self, study, trials):
        docs = render(study, trials)
        self.assertEqual(len(docs), trials)
        self.assertEqual(problems(docs), [], study)
        return docs

    def test_quickstart(self):
        docs = self.check_study(os.path.join(SRC, "examples/quickstart/study.yaml"), 3)
        self.assertEqual({d["kind"] for d in docs}, {"Job"})

    def test_k8s_gpu_example(self):
        study = os.path.join(SRC, "examples/k8s-gpu/study.yaml")
        r = hpt("validate", study)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        docs = self.check_study(study, 2)
        self.assertEqual([d["metadata"]["name"] for d in docs],
                         ["k8s-gpu-00001", "k8s-gpu-00002"])
        want = {"ai.bloomberg.com/project": "foo", "ai.bloomberg.com/experiment": "abcde"}
        for d in docs:
            self.assertEqual((d["apiVersion"], d["kind"]), ("batch/v1", "Job"))
            pod = d["spec"]["template"]["spec"]
            self.assertEqual(pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], 1)
            self.assertEqual(pod["tolerations"][0]["key"], "nvidia.com/gpu")
            self.assertEqual(pod["restartPolicy"], "Never")
            annotations = d["metadata"].get("annotations", {})
            self.assertEqual({k: annotations.get(k) for k in want}, want)
            # The pod template carries them too (what a runner reading pods sees).
            pod_annotations = d["spec"]["template"].get("metadata", {}).get("annotations", {})
            self.assertEqual({k: pod_annotations.get(k) for k in want}, want)
            self.assertEqual((d["spec"]["backoffLimit"], d["spec"]["activeDeadlineSeconds"],
                              d["spec"]["ttlSecondsAfterFinished"]), (1, 3600, 86400))

    def test_spec_hpt_kubernetes(self):
        """Every spec.hpt.kubernetes setting lands in the Jobs, which still pass."""
        import tempfile
        with open(os.path.join(SRC, "examples/k8s-gpu/study.yaml"), encoding="utf-8") as f:
            study = yaml.safe_load(f)
        job_spec = study["spec"]["trialTemplate"]["trialSpec"]["spec"]
        for key in ("activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
            job_spec.pop(key, None)
        job_spec["template"]["spec"].pop("priorityClassName", None)
        study["metadata"]["annotations"]["internal.example.com/cost-center"] = "42"
        study["spec"]["hpt"]["kubernetes"] = {
            "priorityClassName": "team-a-high",
            "activeDeadlineSeconds": 7200,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "serviceAccountName": "trainer",
            "queueName": "team-a",
            "annotationPrefix": "ml.example.com",
            "propagateAnnotations": ["ai.bloomberg.com/project"],
            "preemptionRetries": 5,
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "study.yaml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump(study, f)
            r = hpt("validate", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            docs = self.check_study(path, 2)
        for i, d in enumerate(docs):
            trial = f"k8s-gpu-{i + 1:05d}"
            self.assertEqual(d["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "team-a")
            self.assertEqual((d["spec"]["activeDeadlineSeconds"], d["spec"]["backoffLimit"],
                              d["spec"]["ttlSecondsAfterFinished"]), (7200, 0, 600))
            pod = d["spec"]["template"]
            self.assertEqual((pod["spec"]["priorityClassName"], pod["spec"]["serviceAccountName"]),
                             ("team-a-high", "trainer"))
            want = {"ai.bloomberg.com/project": "foo",
                    "ml.example.com/project": "foo", "ml.example.com/experiment": "abcde",
                    "ml.example.com/study": "k8s-gpu", "ml.example.com/trial": trial}
            self.assertEqual(d["metadata"]["annotations"], want)
            self.assertEqual(pod["metadata"]["annotations"], want)

    def test_katib_fixtures(self):
        root = katib_dir()
        if not os.path.isdir(root):
            self.skipTest(f"Katib fixtures not found at {root} (set HPT_KATIB_FIXTURES)")
        checked = 0
        for d in ("v1alpha1", "v1beta1"):
            for f in sorted(os.listdir(os.path.join(root, d))):
                if not f.endswith(".yaml"):
                    continue
                path = os.path.join(root, d, f)
                with open(path, encoding="utf-8") as fh:
                    kind = next(iter(yaml.safe_load_all(fh)), {}).get("kind")
                if kind not in ("Experiment", "StudyJob"):
                    continue  # a ConfigMap of trial templates, read by the studies using it
                if hpt("validate", path).returncode != 0:
                    continue  # not supported yet: tests/cli covers the verdicts
                with self.subTest(f"{d}/{f}"):
                    docs = render(path, 2)
                    self.assertEqual(len(docs), 2)
                    jobs = [doc for doc in docs if doc.get("kind") == "Job"]
                    self.assertEqual(problems(jobs), [])
                    checked += len(jobs)
        self.assertGreater(checked, 0)


class Deploy(NeedsSchema):
    """deploy/: hptd's manifests, checked where the documents describe them."""

    def load(self):
        with open(os.path.join(SRC, "deploy", "kustomization.yaml"), encoding="utf-8") as f:
            k = yaml.safe_load(f)
        docs = []
        for res in k["resources"]:
            with open(os.path.join(SRC, "deploy", res), encoding="utf-8") as f:
                docs += vm.load_stream(f.read())
        return docs

    def test_manifests_valid(self):
        docs = self.load()
        self.assertEqual(sorted(d["kind"] for d in docs),
                         ["Deployment", "PersistentVolumeClaim", "Role", "RoleBinding", "Service",
                          "ServiceAccount"])
        VALIDATOR.unchecked = []
        self.assertEqual(problems(docs), [])
        # apps/v1 and rbac.authorization.k8s.io/v1 are not in the documents.
        self.assertEqual(sorted(u.split(" ")[1] for _, u in VALIDATOR.unchecked),
                         ["Deployment", "Role", "RoleBinding"])
        for d in docs:
            self.assertNotIn("namespace", d["metadata"], d["kind"])

    def test_deployment(self):
        dep = next(d for d in self.load() if d["kind"] == "Deployment")
        self.assertEqual(dep["spec"]["replicas"], 1)
        c = dep["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["image"], "hpt/hptd:latest")
        self.assertEqual(c["args"][:4], ["--db=/data/hpt.db", "--listen=0.0.0.0:7070",
                                          "--runner=kubernetes",
                                          "--endpoint=hptd.$(POD_NAMESPACE).svc:7070"])
        self.assertIn("--admin-token-file=/etc/hptd/admin/token", c["args"])
        broken = copy.deepcopy(dep)
        broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicey"] = "Always"
        self.assertEqual([v.rule for v in VALIDATOR.validate_documents([broken])],
                         ["schema:additionalProperties"])

    def test_role_grants(self):
        role = next(d for d in self.load() if d["kind"] == "Role")
        grants = {(r["apiGroups"][0], res): sorted(r["verbs"])
                  for r in role["rules"] for res in r["resources"]}
        self.assertEqual(grants, {
            ("batch", "jobs"): ["create", "delete", "get", "list", "watch"],
            ("", "pods"): ["get", "list", "watch"],
            ("", "pods/log"): ["get", "list", "watch"],
            ("", "secrets"): ["create", "delete", "list", "patch"],  # list: Purge, Reclaim
        })


if __name__ == "__main__":
    HPT = os.path.abspath(sys.argv[1])
    SRC = os.path.abspath(sys.argv[2])
    try:
        VALIDATOR = vm.ManifestValidator()
    except FileNotFoundError:
        VALIDATOR = None  # every test skips, saying where the documents were looked for
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
