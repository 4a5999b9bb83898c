// Usage: node fhir_kit_client.mjs BASE_URL TOKEN NHS_NUMBER
// Searches by NHS number, pages, reads and runs $everything with fhir-kit-client; prints a JSON summary.
import { Client } from 'fhir-kit-client';

async function main() {
  const [baseUrl, token, nhsNumber] = process.argv.slice(2);
  const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${token}` } });
  const found = await client.search({
    resourceType: 'Patient',
    searchParams: { identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhsNumber}` },
  });
  const patient = found.entry[0].resource;
  const read = await client.read({ resourceType: 'Patient', id: patient.id });
  const pages = [];
  let page = await client.search({ resourceType: 'Condition', searchParams: { patient: patient.id, _count: 1 } });
  while (page) {
    pages.push((page.entry || []).filter((e) => e.search.mode === 'match').map((e) => e.resource.id));
    page = await client.nextPage({ bundle: page });
  }
  const everything = await client.operation({ name: '$everything', resourceType: 'Patient', id: patient.id, method: 'get' });
  console.log(JSON.stringify({
    found: found.total,
    readId: read.id,
    pages,
    everythingTypes: everything.entry.map((e) => e.resource.resourceType),
  }));
}

main().catch((err) => { console.error(err && err.stack ? err.stack : err); process.exit(1); });
