// The page over the wire: its size as served (the precompressed files in dist, which the release
// server carries inside it), and whether the server sends them as it should.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export function pageSize(dist) {
  const files = fs.readdirSync(dist).filter((f) => /\.(wasm|js|css)$/.test(f));
  const sum = (suffix) =>
    files.reduce((total, f) => {
      const file = path.join(dist, f + suffix);
      if (!fs.existsSync(file)) throw new Error(`${file} is missing: scripts/build makes it`);
      return total + fs.statSync(file).size;
    }, 0);
  const by = (ext, suffix) =>
    files.filter((f) => f.endsWith(ext)).reduce((t, f) => t + fs.statSync(path.join(dist, f + suffix)).size, 0);
  return {
    files,
    raw: sum(''),
    gzip: sum('.gz'),
    brotli: sum('.br'),
    wasmGzip: by('.wasm', '.gz'),
    jsGzip: by('.js', '.gz'),
    cssGzip: by('.css', '.gz'),
    wasmBrotli: by('.wasm', '.br'),
  };
}

/** A GET as it comes over the wire: headers and the body's bytes, not decompressed. */
function rawGet(url, headers = {}) {
  return new Promise((ok, fail) => {
    http.get(url, { headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => ok({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', fail);
  });
}

/** How the server sends the built page: each asset precompressed (the bytes of the .br / .gz
 * file, with that encoding), hashed assets cached for good, index.html never. */
export async function servingCheck(url, dist, files) {
  const problems = [];
  for (const file of files) {
    for (const [encoding, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
      const response = await rawGet(`${url}/${file}`, { 'accept-encoding': encoding });
      const expected = fs.readFileSync(path.join(dist, file + suffix));
      if (response.headers['content-encoding'] !== encoding || !response.body.equals(expected)) {
        problems.push(`${file} is not sent as its precompressed ${suffix}`);
      }
      const cache = response.headers['cache-control'] || '';
      if (!/max-age=31536000/.test(cache) || !/immutable/.test(cache)) {
        problems.push(`${file} is sent with cache-control "${cache}", not cached for good`);
      }
    }
  }
  // `/` carries the signed-in person's first rows, so it is also `private`.
  for (const page of ['/', '/index.html']) {
    const cache = (await rawGet(`${url}${page}`)).headers['cache-control'] || '';
    const directives = cache.split(',').map((d) => d.trim());
    if (!directives.includes('no-cache') || directives.some((d) => d !== 'no-cache' && d !== 'private')) {
      problems.push(`${page} has cache-control "${cache}", not no-cache`);
    }
  }
  return [...new Set(problems)];
}
