// Validate the chart's custom resources (KEDA ScaledObject, Prometheus-operator ServiceMonitor and
// PrometheusRule) against the CRD schemas shipped in the npm packages @kubernetes-models/keda and
// @kubernetes-models/prometheus-operator, offline.
//   node validate-crds.mjs NPM_DIR < documents.json      (a JSON array of Kubernetes objects)
// Prints one line per object; exits 1 if any object is invalid or of a kind this script does not know.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const npmDir = process.argv[2];
if (!npmDir) {
  console.error("usage: node validate-crds.mjs NPM_DIR < documents.json");
  process.exit(2);
}
const models = {
  "keda.sh/v1alpha1/ScaledObject": "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
};

const documents = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const doc of documents) {
  const id = `${doc.apiVersion}/${doc.kind}`;
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const module = models[id];
  if (!module) {
    console.log(`${name}: no schema for ${id}`);
    failed++;
    continue;
  }
  const exported = await import(pathToFileURL(join(npmDir, "node_modules", module)).href);
  const Model = exported[doc.kind];
  try {
    new Model(doc).validate();
    console.log(`${name}: valid`);
  } catch (error) {
    console.log(`${name}: INVALID: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
