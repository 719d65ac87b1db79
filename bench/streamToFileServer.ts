/**
 * The artifact upload benchmark's baseline, run as a process of its own as the coordinator is:
 * a plain Node HTTP server that streams each request body to a new file in STREAM_DIR and
 * answers 201 with the byte count once the file is flushed to disk (fsync before close, as the
 * coordinator's uploads are). No parsing, no checks: the disk and Node's streams alone.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const dir = process.env.STREAM_DIR;
const port = Number(process.env.PORT);
if (!dir || !Number.isInteger(port)) throw new Error('STREAM_DIR and PORT are required');

let uploads = 0;
const server = http.createServer((request, response) => {
  if (request.method !== 'POST') {
    response.writeHead(204).end();
    return;
  }
  const file = path.join(dir, `upload-${process.pid}-${uploads++}`);
  const out = fs.createWriteStream(file, { flags: 'wx', flush: true });
  pipeline(request, out).then(
    () => response.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ file, size: out.bytesWritten })),
    (err: Error) => response.writeHead(500).end(err.message),
  );
});
server.requestTimeout = 0;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
