// validate.mjs: checks Kubernetes objects against the Kubernetes OpenAPI
// schemas shipped in kubernetes-models (kubeconform-style, offline).
//   scripts/kustomize deploy/kubernetes --json | node deploy/kubernetes/validate/validate.mjs
// Reads a JSON array of objects on stdin; prints one line per object and
// exits 1 naming every object that does not validate (or whose kind it does
// not know), 0 when all do.
import { readFileSync } from 'node:fs';

const objects = JSON.parse(readFileSync(0, 'utf8'));
let bad = 0;
for (const o of objects) {
  const label = `${o.kind}/${o.metadata?.name}`;
  let Model;
  try {
    Model = (await import(`kubernetes-models/${o.apiVersion}`))[o.kind];
  } catch (e) {
    Model = undefined;
  }
  if (!Model) {
    console.log(`invalid: ${label}: no schema for ${o.apiVersion} ${o.kind}`);
    bad++;
    continue;
  }
  try {
    new Model(o).validate();
    console.log(`valid: ${label} (${o.apiVersion})`);
  } catch (e) {
    console.log(`invalid: ${label}: ${e.message}`);
    bad++;
  }
}
console.log(`${objects.length - bad} of ${objects.length} objects valid`);
process.exit(bad ? 1 : 0);
