// Writes a brotli (`.br`, quality 11, a 16 MiB window) and a gzip (`.gz`, level 9) copy beside each file named, and
// prints the sizes: `node web/compress.mjs FILE...` (build.sh, for web/dist). A static host serves
// them in place of the files (web/serve.mjs shows how); the browser undoes them as they arrive.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const mb = (bytes) => (bytes / 1e6).toFixed(2);
const total = { raw: 0, br: 0, gz: 0 };
for (const file of process.argv.slice(2)) {
  const raw = readFileSync(file);
  const br = brotliCompressSync(raw, {
    // The largest window every brotli decoder takes (24 bits; the default is 22): the .wasm repeats
    // itself across more than 4 MiB, and is 22 kB smaller with it.
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_LGWIN]: 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(`${file}.br`, br);
  writeFileSync(`${file}.gz`, gz);
  console.log(`${basename(file)}: ${mb(raw.length)} MB, ${mb(br.length)} MB brotli, ${mb(gz.length)} MB gzip`);
  total.raw += raw.length;
  total.br += br.length;
  total.gz += gz.length;
}
console.log(`the page downloads ${mb(total.raw)} MB raw, ${mb(total.br)} MB brotli, ${mb(total.gz)} MB gzip`);
