// A finished upload in DATA_DIR/tmp, as the multipart reader leaves it for storeArtifacts: for
// tests that drive the artifacts domain functions step by step (see their comments for why).
import fs from 'node:fs';
import path from 'node:path';
import type { UploadedArchive } from '../../src/domain/artifacts.js';
import { uploadTempDir } from '../../src/store/artifacts.js';

let received = 0;

export function receivedUpload(dataDir: string, content: Buffer, originalFilename = 'new.zip'): UploadedArchive {
  const dir = uploadTempDir(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `received-${process.pid}-${++received}`);
  fs.writeFileSync(file, content);
  return { path: file, size: content.length, originalFilename };
}
