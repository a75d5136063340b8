// Parse .vti / .vtp files with vtk.js's XML readers, as the learnHPB viewer does (parseAsArrayBuffer).
// Usage: node vtkjs_parse.mjs [--warm FILE] FILE... ; prints one JSON line per file: what was read, how
// long it took, and the growth of the process's memory while parsing (heap and array buffers; rss peak).
// --warm parses FILE first, unmeasured: vtk.js's reader and inflate code is then compiled, as it is in
// the viewer once it has read its first file (it reads the meshes before the volume).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import './node_shims.mjs';
import vtkXMLImageDataReader from '@kitware/vtk.js/IO/XML/XMLImageDataReader.js';
import vtkXMLPolyDataReader from '@kitware/vtk.js/IO/XML/XMLPolyDataReader.js';

export function parse(buffer, kind) {
  const reader = kind === 'vti' ? vtkXMLImageDataReader.newInstance() : vtkXMLPolyDataReader.newInstance();
  const ok = reader.parseAsArrayBuffer(buffer);
  if (ok === false) throw new Error('vtk.js could not parse the file');
  const data = reader.getOutputData(0);
  if (!data) throw new Error('vtk.js read no data');
  if (kind === 'vti') {
    const scalars = data.getPointData().getScalars();
    return {
      kind,
      dimensions: data.getDimensions(),
      spacing: data.getSpacing(),
      origin: data.getOrigin(),
      bounds: data.getBounds(),
      scalars: scalars ? scalars.getName() : null,
      values: scalars ? scalars.getNumberOfValues() : 0,
      range: scalars ? scalars.getRange() : null,
    };
  }
  return {
    kind,
    points: data.getNumberOfPoints(),
    cells: data.getPolys().getNumberOfCells(),
    bounds: data.getBounds(),
    normals: Boolean(data.getPointData().getNormals()),
  };
}

export function measure(path) {
  const kind = path.toLowerCase().endsWith('.vti') ? 'vti' : 'vtp';
  const bytes = readFileSync(path);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (global.gc) global.gc();
  const before = process.memoryUsage();
  let peak = before.rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  const started = performance.now();
  const result = parse(buffer, kind);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  const after = process.memoryUsage();
  peak = Math.max(peak, after.rss);
  return {
    path,
    file_bytes: bytes.byteLength,
    seconds,
    heap_growth_bytes: after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers,
    rss_peak_growth_bytes: peak - before.rss,
    ...result,
  };
}

if (process.argv[1] && process.argv[1].endsWith('vtkjs_parse.mjs')) {
  const args = process.argv.slice(2);
  if (args[0] === '--warm') {
    measure(args[1]);
    args.splice(0, 2);
  }
  for (const path of args) {
    console.log(JSON.stringify(measure(path)));
  }
}
