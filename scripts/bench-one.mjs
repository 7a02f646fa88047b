// Runs one named benchmark from one compiled bench file and prints its result as one JSON line.
import { pathToFileURL } from 'node:url';

const [file, name] = process.argv.slice(2);
const mod = await import(pathToFileURL(file).href);
const b = (mod.benchmarks ?? []).find((x) => x.name === name);
if (!b) {
  console.error(`benchmark ${name} not found in ${file}`);
  process.exit(2);
}
const r = await b.run();
console.log(JSON.stringify({ name: b.name, unit: b.unit, ...r, description: b.description }));
process.exit(0);
