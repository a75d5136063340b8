// Plays the learnHPB viewer's part against a bucket of published bundles (notes/viewer-facts.md):
// anonymous ListObjectsV2 of <base>/ with delimiter "/" (following continuation tokens), a listing of
// each case folder, its manifest.json, then every file the viewer would load, parsed with vtk.js's own
// readers (parseAsArrayBuffer). No credentials are sent.
// Usage: node viewer_e2e.mjs http://127.0.0.1:PORT BUCKET.s3.localhost:PORT BASE_PREFIX [MAX_KEYS]
// Prints one JSON document: the cases as the viewer sees them, with what vtk.js read of each file.
import http from 'node:http';
import { parse } from './vtkjs_parse.mjs';

const [address, host, base, maxKeys] = process.argv.slice(2);

function get(path) {
  const url = new URL(path, address);
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { Host: host, Origin: 'http://localhost:5173' } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', reject);
  });
}

const tags = (xml, tag) => [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1].replace(/&amp;/g, '&'));

async function list(prefix, delimiter) {
  const prefixes = [];
  const keys = [];
  let token;
  do {
    const query = new URLSearchParams({ 'list-type': '2', prefix });
    if (delimiter) query.set('delimiter', delimiter);
    if (maxKeys) query.set('max-keys', maxKeys);
    if (token) query.set('continuation-token', token);
    const response = await get(`/?${query}`);
    if (response.status !== 200) throw new Error(`listing ${prefix} answered ${response.status}`);
    const xml = response.body.toString('utf8');
    const common = xml.match(/<CommonPrefixes>[\s\S]*?<\/CommonPrefixes>/g) || [];
    prefixes.push(...common.map((block) => tags(block, 'Prefix')[0]));
    const contents = xml.match(/<Contents>[\s\S]*?<\/Contents>/g) || [];
    keys.push(...contents.map((block) => tags(block, 'Key')[0]));
    token = tags(xml, 'IsTruncated')[0] === 'true' ? tags(xml, 'NextContinuationToken')[0] : undefined;
  } while (token);
  return { prefixes, keys };
}

const buffer = (bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);

async function viewCase(prefix) {
  const folder = prefix.slice(base.length + 1).replace(/\/+$/, '');
  const { keys } = await list(prefix);
  const objects = keys.map((key) => key.slice(prefix.length));
  const manifestResponse = await get(`/${prefix}manifest.json`);
  if (manifestResponse.status !== 200) throw new Error(`${prefix}manifest.json answered ${manifestResponse.status}`);
  const manifest = JSON.parse(manifestResponse.body.toString('utf8'));
  // What the viewer keeps of a folder, and the volume it picks.
  const volumes = objects.filter((o) => o.toLowerCase().endsWith('.vti'));
  const meshes = objects.filter((o) => o.startsWith('segmentations/') && o.toLowerCase().endsWith('.vtp'));
  const documents = objects.filter((o) => o.startsWith('clinical_files/') && o.toLowerCase().endsWith('.pdf'));
  const wanted = typeof manifest.volume === 'string' ? manifest.volume : manifest.volume?.output;
  const volume = volumes.find((v) => v === wanted) ?? volumes.find((v) => v.endsWith('_volume.vti')) ?? volumes[0];
  const files = {};
  for (const path of [volume, ...meshes].filter(Boolean)) {
    const response = await get(`/${prefix}${path}`);
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
    files[path] = { bytes: response.body.length, ...parse(buffer(response.body), path.endsWith('.vti') ? 'vti' : 'vtp') };
  }
  for (const path of documents) {
    const response = await get(`/${prefix}${path}`);
    files[path] = { bytes: response.body.length, pdf: response.body.subarray(0, 5).toString('latin1') === '%PDF-' };
  }
  return { folder, objects, manifest, volume, meshes, documents, files };
}

const { prefixes } = await list(`${base}/`, '/');
const cases = [];
for (const prefix of prefixes.sort()) cases.push(await viewCase(prefix));
console.log(JSON.stringify({ cases }));
