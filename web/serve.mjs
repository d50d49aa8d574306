// Serves web/dist on localhost: `node web/serve.mjs [PORT]` (8080 by default), or `serve(dir, port)`
// from the browser test and web/bench.mjs. It does what a static host must do for llmviz:
// - `.wasm` as application/wasm, which WebAssembly's streaming compile requires;
// - the precompressed copies build.sh writes beside each file (`NAME.br`, `NAME.gz`) in place of the
//   file, with `Content-Encoding: br` (or gzip) and the original's Content-Type, to a browser whose
//   Accept-Encoding allows it: the page's 20 MB are some 4 MB with brotli.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ron': 'text/plain; charset=utf-8',
};

/** The encodings to try for a request, best first, each with the suffix of its precompressed copy. */
function encodings(request) {
  const accepted = (request.headers['accept-encoding'] ?? '').split(',').map((part) => part.trim().split(';')[0]);
  const tried = [];
  if (accepted.includes('br')) tried.push(['br', '.br']);
  if (accepted.includes('gzip')) tried.push(['gzip', '.gz']);
  tried.push([null, '']);
  return tried;
}

/** Starts serving `dir` on 127.0.0.1:`port` (0: any free port); resolves to the http.Server. */
export function serve(dir, port = 0) {
  const root = resolve(dir);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(root)) {
      response.writeHead(403).end();
      return;
    }
    for (const [encoding, suffix] of encodings(request)) {
      let body;
      try {
        body = await readFile(file + suffix);
      } catch {
        continue;
      }
      response.writeHead(200, {
        'Content-Type': types[extname(file)] ?? 'application/octet-stream',
        'Content-Length': body.length,
        'Cache-Control': 'no-cache',
        Vary: 'Accept-Encoding',
        ...(encoding ? { 'Content-Encoding': encoding } : {}),
      });
      response.end(body);
      return;
    }
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`);
  });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
  const server = await serve(dist, Number(process.argv[2] ?? 8080));
  console.log(`llmviz: serving ${dist} on http://127.0.0.1:${server.address().port}/`);
}
