// Zip helpers for tests: write artifacts the way the runner's uploader does (streamed, never a whole
// buffer) and read them back the way its downloader does (a real zip, entry by entry).
import { Readable } from 'node:stream';
import yazl from 'yazl';
import yauzl from 'yauzl';

export type FileContents = Record<string, string | Buffer>;

/**
 * Streams a zip of `files` (path inside the archive → content). The archive is produced while it is
 * read, so callers can pipe it straight into a chunked HTTP request like the runner does.
 */
export function zipFiles(files: FileContents): Readable {
  const zip = new yazl.ZipFile();
  for (const [path, content] of Object.entries(files)) {
    zip.addBuffer(typeof content === 'string' ? Buffer.from(content, 'utf8') : content, path);
  }
  zip.end();
  const output = zip.outputStream;
  // yazl's outputStream is a stream.PassThrough; the typings only promise NodeJS.ReadableStream.
  if (!(output instanceof Readable)) throw new Error('yazl outputStream is not a stream.Readable');
  return output;
}

/** Collects a whole zip in memory: for small test archives and for comparing what a server stored. */
export async function zipToBuffer(files: FileContents): Promise<Buffer> {
  return readAll(zipFiles(files));
}

/** Unzips `buf` into path → bytes. Directory entries are skipped. Rejects if `buf` is not a valid zip. */
export async function unzipToMap(buf: Buffer): Promise<Record<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(buf, { lazyEntries: true });
  const files: Record<string, Buffer> = {};
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      files[entry.fileName] = await readAll(await zip.openReadStreamPromise(entry));
    }
  } finally {
    zip.close();
  }
  return files;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  }
  return Buffer.concat(chunks);
}
